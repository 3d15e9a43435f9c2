"""Which staging column each file column goes to, and schema drift found before anything loads.

A column mapping is one of:

* nothing: file columns match table columns by name (exactly, else case-insensitively);
* a list of names: by position, the n-th file column goes to the n-th name;
* a list of ``[source, target]`` pairs (what the admin stores for ``src_a > col_a, src_b > col_b``):
  by position, and the file's n-th header must read ``source`` (case and spaces aside);
* an object ``{source: target}``: by name, unlisted columns keep their own names.

When the file and the table disagree, one error lists every missing and unexpected column
and says how to fix it; nothing is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from dagster_code.engine.errors import ConfigError, SchemaMismatchError
from dagster_code.engine.identifiers import table_identifier

RUN_ID_COLUMN = "dagster_run_id"

ColumnMapping = list[str] | list[list[str]] | Mapping[str, str] | None


@dataclass(frozen=True)
class StagingTable:
    """A table's columns in order, and those PostgreSQL fills by itself when a load leaves them out."""

    name: str
    columns: tuple[str, ...]
    defaulted: frozenset[str]

    @property
    def file_columns(self) -> tuple[str, ...]:
        """The columns a file may fill (all but the run id)."""
        return tuple(c for c in self.columns if c != RUN_ID_COLUMN)

    @property
    def required(self) -> tuple[str, ...]:
        """The columns a file must fill: no default, not the run id."""
        return tuple(c for c in self.file_columns if c not in self.defaulted)


def describe_table(conn: psycopg.Connection, table: str) -> StagingTable:
    """Columns of ``table`` in order; a clear error when the table does not exist."""
    qualified = table_identifier(table).as_string(conn)
    row = conn.execute("SELECT to_regclass(%s)::oid", (qualified,)).fetchone()
    if row is None or row[0] is None:
        raise ConfigError(
            f"The table {table} does not exist in the warehouse.",
            hint="Create the table (or fix the name in the import's settings).",
        )
    rows = conn.execute(
        "SELECT attname, atthasdef OR attidentity <> '' OR attgenerated <> '' FROM pg_attribute "
        "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (row[0],),
    ).fetchall()
    return StagingTable(name=table, columns=tuple(r[0] for r in rows), defaulted=frozenset(r[0] for r in rows if r[1]))


def table_columns(conn: psycopg.Connection, table: str) -> list[str]:
    """Column names of ``table`` in order; a clear error when the table does not exist."""
    return list(describe_table(conn, table).columns)


def _same_name(left: str, right: str) -> bool:
    return " ".join(left.split()).casefold() == " ".join(right.split()).casefold()


def _mapped_names(file_name: str, columns: Sequence[str], mapping: ColumnMapping) -> list[str]:
    """The name each file column goes by after the mapping (still to be matched to the table)."""
    if not mapping:
        return list(columns)
    if isinstance(mapping, str):
        raise ConfigError("The column mapping was not saved through Launchpad's settings; save the import again.")
    if isinstance(mapping, Mapping):
        return [mapping.get(name, name) for name in columns]
    if len(mapping) != len(columns):
        raise SchemaMismatchError(
            f"{file_name} has {len(columns)} columns but the positional column mapping lists {len(mapping)}.",
            hint="Make the column mapping list one entry per column of the file, in the file's order.",
        )
    if all(isinstance(item, str) for item in mapping):
        return list(mapping)
    renamed: list[str] = []
    moved: list[str] = []
    for position, (item, found) in enumerate(zip(mapping, columns, strict=True), start=1):
        source, target = item
        if not _same_name(source, found):
            moved.append(f"column {position} is '{found}', the mapping expects '{source}'")
        renamed.append(target)
    if moved:
        raise SchemaMismatchError(
            f"{file_name} does not have the columns the mapping expects: {'; '.join(moved)}.",
            hint="The file's layout changed: fix the file, or update the column mapping to the new layout.",
        )
    return renamed


def _example_mapping(unexpected: Sequence[str], missing: Sequence[str]) -> str:
    pairs = dict(zip(unexpected, missing, strict=False))
    return json.dumps(pairs, ensure_ascii=False) if pairs else ""


def map_columns(file_name: str, columns: Sequence[str], mapping: ColumnMapping, table: StagingTable) -> list[str]:
    """Target column for each file column; one error listing all drift when the two disagree."""
    renamed = _mapped_names(file_name, columns, mapping)
    by_lower: dict[str, list[str]] = {}
    for col in table.file_columns:
        by_lower.setdefault(col.lower(), []).append(col)
    if any(name == RUN_ID_COLUMN for name in renamed):
        raise SchemaMismatchError(
            f"{file_name} has a column named {RUN_ID_COLUMN}, which Launchpad fills itself.",
            hint=f"Remove the {RUN_ID_COLUMN} column from the file, or map it to another column.",
        )
    targets: list[str] = []
    unexpected: list[str] = []
    for source, name in zip(columns, renamed, strict=True):
        if name in table.file_columns:
            targets.append(name)
        elif len(by_lower.get(name.lower(), [])) == 1:
            targets.append(by_lower[name.lower()][0])
        else:
            unexpected.append(source if source == name else f"{source} (mapped to {name})")
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise SchemaMismatchError(
            f"{file_name}: more than one column maps to {', '.join(duplicates)}.",
            hint="Each staging column can be filled by one file column only; fix the column mapping.",
        )
    missing = [c for c in table.required if c not in targets]
    if unexpected or missing:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected column(s) {', '.join(unexpected)}")
        hint = []
        if unexpected and missing:
            example = _example_mapping([u.split(" (mapped to ")[0] for u in unexpected], missing)
            hint.append(f"If a column was renamed, map it in the import's column mapping, e.g. {example}.")
        if unexpected:
            hint.append(f"To keep new columns, add them to {table.name} (ALTER TABLE ... ADD COLUMN ... text).")
        if missing:
            hint.append("If the file no longer carries a column, give it a DEFAULT in the staging table.")
        raise SchemaMismatchError(
            f"{file_name} does not match the staging table {table.name}: {'; '.join(problems)}. "
            f"The table has: {', '.join(table.file_columns)}.",
            hint=" ".join(hint),
        )
    return targets


@dataclass(frozen=True)
class Preview:
    """A few loaded rows of one run, as text, with the table's column names and types."""

    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[str | None, ...], ...]


def preview_rows(conn: psycopg.Connection, table: str, run_id: str, limit: int = 5) -> Preview:
    """The first ``limit`` rows ``run_id`` put into ``table`` (the run id column left out)."""
    oid = conn.execute("SELECT to_regclass(%s)::oid", (table_identifier(table).as_string(conn),)).fetchone()[0]
    columns = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped AND attname <> %s ORDER BY attnum",
        (oid, RUN_ID_COLUMN),
    ).fetchall()
    query = sql.SQL("SELECT {} FROM {} WHERE {} = %s LIMIT %s").format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(name)) for name, _ in columns),
        table_identifier(table),
        sql.Identifier(RUN_ID_COLUMN),
    )
    rows = conn.execute(query, (run_id, limit)).fetchall()
    return Preview(columns=tuple((name, kind) for name, kind in columns), rows=tuple(tuple(r) for r in rows))
