"""Warehouse catalogue: which tables the warehouse holds and exactly how many rows each has."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEFAULT_CONNECT_TIMEOUT = 5

# Ordinary and partitioned tables the current role may read; partitions are counted through
# their parent, and views are left out (counting one runs its whole query).
_USER_TABLES = sql.SQL(
    """
    SELECT n.nspname, c.relname
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND NOT c.relispartition
      AND n.nspname <> 'information_schema'
      AND n.nspname NOT LIKE 'pg\\_%'
      AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
    ORDER BY n.nspname, c.relname
    """
)


class WarehouseUnavailable(Exception):
    """The warehouse cannot be reached. ``message`` is safe to show users; ``detail`` is for logs."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    row_count: int


def list_tables(conn: psycopg.Connection) -> list[TableInfo]:
    """Every user table outside the system schemas with its exact row count, ordered by schema and name."""
    tables = conn.execute(_USER_TABLES).fetchall()
    found = []
    for schema, name in tables:
        count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
        try:
            with conn.transaction():
                (row_count,) = conn.execute(count).fetchone()
        except psycopg.errors.UndefinedTable:
            continue  # dropped after we listed it: it is no longer in the warehouse
        found.append(TableInfo(schema=schema, name=name, row_count=row_count))
    return found


def warehouse_url() -> str:
    """``WAREHOUSE_URL`` from the environment, starting (or reusing) the embedded PostgreSQL when unset."""
    url = os.environ.get("WAREHOUSE_URL")
    if url:
        return url
    from backend.embedded import EmbeddedServiceError, ensure_services

    try:
        ensure_services()
    except EmbeddedServiceError as exc:
        raise WarehouseUnavailable("The built-in warehouse database could not be started.", detail=str(exc)) from exc
    return os.environ["WAREHOUSE_URL"]


def connect(url: str | None = None) -> psycopg.Connection:
    """A new autocommit connection to the warehouse (``url`` or :func:`warehouse_url`); the caller closes it."""
    url = url or warehouse_url()
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise WarehouseUnavailable(
            "The warehouse address (WAREHOUSE_URL) is not a valid PostgreSQL connection string.", detail=str(exc)
        ) from exc
    options = {} if "connect_timeout" in params else {"connect_timeout": DEFAULT_CONNECT_TIMEOUT}
    try:
        return psycopg.connect(url, autocommit=True, **options)
    except psycopg.OperationalError as exc:
        raise WarehouseUnavailable(
            "The warehouse database cannot be reached right now. "
            "Check that PostgreSQL is running and that WAREHOUSE_URL points at it, then reload the page.",
            detail=str(exc),
        ) from exc
