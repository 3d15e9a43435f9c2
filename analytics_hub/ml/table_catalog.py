"""What the editing and search engines need to know about one warehouse table: its columns, types and primary key.

Tables are named the hub's way, ``schema.table`` split at the first dot (the table part may contain dots,
quotes, spaces or capitals); identifiers are always quoted with ``psycopg.sql.Identifier`` when used.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from analytics_hub.ml.errors import AnalyticsError

# Schemas the engines keep their own bookkeeping in: never offered for editing or searching.
INTERNAL_SCHEMAS = frozenset({"analytics_audit", "analytics_search"})

# How a column is shown and edited, by the name of its (domain's base) type; everything else is edited as text.
_KIND_BY_TYPE = {
    "int2": "integer",
    "int4": "integer",
    "int8": "integer",
    "float4": "float",
    "float8": "float",
    "numeric": "float",
    "bool": "boolean",
    "date": "date",
    "timestamp": "datetime",
    "timestamptz": "datetime",
    "text": "text",
    "varchar": "text",
    "bpchar": "text",
    "name": "text",
    "citext": "text",
}

_TABLE = sql.SQL(
    """
    SELECT c.oid, c.relkind
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relname = %s
    """
)
_COLUMNS = sql.SQL(
    """
    SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), bt.typname, a.attnotnull,
           (a.attgenerated <> '' OR a.attidentity = 'a')
    FROM pg_catalog.pg_attribute AS a
    JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    JOIN pg_catalog.pg_type AS bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
    WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
    """
)
_PRIMARY_KEY = sql.SQL(
    """
    SELECT a.attname
    FROM pg_catalog.pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = %s AND i.indisprimary
    ORDER BY k.position
    """
)
_KEYED_TABLES = sql.SQL(
    """
    SELECT n.nspname, c.relname
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND NOT c.relispartition
      AND n.nspname = ANY(%s)
      AND NOT (n.nspname = ANY(%s))
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary)
      AND pg_catalog.has_table_privilege(c.oid, %s)
    ORDER BY n.nspname, c.relname
    """
)


class TableNotFound(AnalyticsError):
    """The named table does not exist, is not a table, or cannot be seen by this role."""


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type_name: str  # as PostgreSQL writes it, e.g. "numeric(10,2)"
    kind: str  # integer, float, boolean, date, datetime, text or other (edited as its text form)
    nullable: bool
    generated: bool  # computed by the database (generated or identity ALWAYS): never written


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def column(self, name: str) -> ColumnInfo:
        return next(c for c in self.columns if c.name == name)


def split_table(table: str) -> tuple[str, str]:
    """``schema.table`` -> (schema, table); the table part may itself contain dots."""
    schema, dot, name = table.partition(".")
    if not dot or not schema or not name:
        raise TableNotFound(f"Table {table!r} must be written as schema.table.")
    return schema, name


def describe_table(conn: psycopg.Connection, table: str) -> TableInfo:
    """Columns (in order) and primary key (in key order) of ``table``; a plain error when it is not a table."""
    schema, name = split_table(table)
    found = conn.execute(_TABLE, (schema, name)).fetchone()
    if found is None or found[1] not in ("r", "p"):
        raise TableNotFound(
            f"Table {table} does not exist or you may not see it.",
            detail=f"no ordinary or partitioned table named {name!r} in schema {schema!r}",
        )
    oid = found[0]
    columns = tuple(
        ColumnInfo(
            name=col,
            type_name=type_name,
            kind=_KIND_BY_TYPE.get(base, "other"),
            nullable=not not_null,
            generated=generated,
        )
        for col, type_name, base, not_null, generated in conn.execute(_COLUMNS, (oid,)).fetchall()
    )
    primary_key = tuple(row[0] for row in conn.execute(_PRIMARY_KEY, (oid,)).fetchall())
    return TableInfo(schema=schema, name=name, columns=columns, primary_key=primary_key)


def keyed_tables(conn: psycopg.Connection, schemas: list[str], *, privilege: str) -> list[str]:
    """``schema.table`` names of the tables with a primary key in ``schemas`` that this role holds ``privilege`` on."""
    rows = conn.execute(_KEYED_TABLES, (list(schemas), sorted(INTERNAL_SCHEMAS), privilege)).fetchall()
    return [f"{schema}.{name}" for schema, name in rows]


def free_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base`` with a number appended, whichever is not in ``taken`` (for helper columns and aliases)."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name
