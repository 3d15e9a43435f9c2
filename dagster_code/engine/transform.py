"""Staging -> destination: a stored procedure per import, or a built-in strategy.

Procedures are called as ``CALL proc(run_id text, tables_to_truncate text[])``. The
whole transform of a run is one transaction holding an advisory lock on every
destination table, so two runs never write one table at once and a failure changes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from dagster_code.engine.errors import ConfigError, TransformError
from dagster_code.engine.identifiers import column_identifier, table_identifier
from dagster_code.engine.loader import RUN_ID_COLUMN, table_columns

LOCK_NAMESPACE = "launchpad:table:"


@dataclass(frozen=True)
class TransformStep:
    import_name: str
    staging_table: str
    destination_table: str
    load_method: str
    procedure: str | None = None
    strategy: str = "insert"


@dataclass(frozen=True)
class TransformResult:
    import_name: str
    destination_table: str
    staging_rows: int
    destination_rows: int
    truncated: bool


Strategy = Callable[[psycopg.Cursor, TransformStep, str], None]
_STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str) -> Callable[[Strategy], Strategy]:
    def decorate(fn: Strategy) -> Strategy:
        _STRATEGIES[name] = fn
        return fn

    return decorate


@register_strategy("insert")
def insert_strategy(cursor: psycopg.Cursor, step: TransformStep, run_id: str) -> None:
    """Insert this run's staging rows into the columns both tables share."""
    conn = cursor.connection
    dest_cols = table_columns(conn, step.destination_table)
    staging_cols = set(table_columns(conn, step.staging_table)) - {RUN_ID_COLUMN}
    shared = [c for c in dest_cols if c in staging_cols]
    if not shared:
        raise ConfigError(f"{step.staging_table} and {step.destination_table} have no column in common.")
    cols = sql.SQL(", ").join(column_identifier(c) for c in shared)
    cursor.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE {} = %s").format(
            table_identifier(step.destination_table),
            cols,
            cols,
            table_identifier(step.staging_table),
            sql.Identifier(RUN_ID_COLUMN),
        ),
        (run_id,),
    )


def _count(cursor: psycopg.Cursor, table: str, run_id: str | None = None) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(table_identifier(table))
    if run_id is None:
        return cursor.execute(query).fetchone()[0]
    query = query + sql.SQL(" WHERE {} = %s").format(sql.Identifier(RUN_ID_COLUMN))
    return cursor.execute(query, (run_id,)).fetchone()[0]


def _truncate(cursor: psycopg.Cursor, tables: Sequence[str]) -> None:
    for table in tables:
        cursor.execute(sql.SQL("TRUNCATE TABLE {}").format(table_identifier(table)))


def run_transform(conn: psycopg.Connection, steps: Sequence[TransformStep], run_id: str) -> list[TransformResult]:
    """Run every step for ``run_id`` in one transaction; return per-import counts."""
    if not steps:
        return []
    replace_tables = sorted({s.destination_table for s in steps if s.load_method == "replace"})
    try:
        with conn.transaction(), conn.cursor() as cursor:
            for table in sorted({s.destination_table for s in steps}):
                table_columns(conn, table)  # a clear error when the destination is missing
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_NAMESPACE + table,))
            staging_rows = {s.import_name: _count(cursor, s.staging_table, run_id) for s in steps}
            empty_replace = [s for s in steps if s.load_method == "replace" and staging_rows[s.import_name] == 0]
            if empty_replace:
                names = ", ".join(f"{s.import_name} ({s.destination_table})" for s in empty_replace)
                raise TransformError(
                    f"This run staged no rows for {names}; a replace load would have emptied the destination, "
                    "so it was stopped and the destination left as it was.",
                    hint="The file had a header but no data rows. Drop a file with data to replace the table.",
                )
            _truncate(cursor, sorted({s.destination_table for s in steps if not s.procedure} & set(replace_tables)))
            called: set[str] = set()
            for step in steps:
                if step.procedure:
                    if step.procedure in called:
                        continue
                    called.add(step.procedure)
                    mine = sorted(
                        {s.destination_table for s in steps if s.procedure == step.procedure} & set(replace_tables)
                    )
                    cursor.execute(
                        sql.SQL("CALL {}(%s::text, %s::text[])").format(table_identifier(step.procedure)),
                        (run_id, mine),
                    )
                else:
                    strategy = _STRATEGIES.get(step.strategy)
                    if strategy is None:
                        raise ConfigError(f"Unknown transform strategy '{step.strategy}'.")
                    strategy(cursor, step, run_id)
            return [
                TransformResult(
                    import_name=s.import_name,
                    destination_table=s.destination_table,
                    staging_rows=staging_rows[s.import_name],
                    destination_rows=_count(cursor, s.destination_table),
                    truncated=s.destination_table in replace_tables,
                )
                for s in steps
            ]
    except psycopg.Error as exc:
        primary = exc.diag.message_primary or str(exc).splitlines()[0]
        raise TransformError(
            f"The transform for {', '.join(s.import_name for s in steps)} failed: {primary}. "
            "The destination was left unchanged.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc
