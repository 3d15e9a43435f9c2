"""Staging -> destination: a stored procedure per import, or a built-in strategy.

Procedures are called as ``CALL proc(run_id text, tables_to_truncate text[])``. The
whole transform of a run is one transaction holding an advisory lock on every
destination table, so two runs never write one table at once and a failure changes
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from dagster_code.engine.errors import ConfigError, TransformError
from dagster_code.engine.identifiers import column_identifier, table_identifier
from dagster_code.engine.mapping import RUN_ID_COLUMN, table_columns
from dagster_code.engine.session import NO_JIT, local_settings
from dagster_code.engine.statistics import refresh_if_stale

LOCK_NAMESPACE = "launchpad:table:"


@dataclass(frozen=True)
class TransformStep:
    import_name: str
    staging_table: str
    destination_table: str
    load_method: str
    procedure: str | None = None
    strategy: str = "insert"
    dedup_key: tuple[str, ...] = ()
    staged_rows: int | None = None  # the run's staging rows as the load counted them; else they are counted here


@dataclass(frozen=True)
class TransformResult:
    import_name: str
    destination_table: str
    staging_rows: int
    destination_rows: int
    truncated: bool
    duplicates_removed: int = 0


# a strategy returns how many staging rows it took, when the statement tells (else they are counted first)
Strategy = Callable[[psycopg.Cursor, TransformStep, str], int | None]
_STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str) -> Callable[[Strategy], Strategy]:
    def decorate(fn: Strategy) -> Strategy:
        _STRATEGIES[name] = fn
        return fn

    return decorate


@register_strategy("insert")
def insert_strategy(cursor: psycopg.Cursor, step: TransformStep, run_id: str) -> int:
    """Insert this run's staging rows into the columns both tables share.

    An append with a deduplication key leaves out the rows whose key the destination already has
    (:func:`_known_key`); they stay in staging, and count as skipped. They are found by looking each
    key up in a hash table of the destination's keys when PostgreSQL builds one (:func:`_hashes_keys`).
    """
    shared = _shared_columns(cursor.connection, step)
    statement = _insert_statement(step, shared, hashed=True)
    if _skips_known_rows(step) and not _hashes_keys(cursor, statement, run_id):
        statement = _insert_statement(step, shared, hashed=False)
    cursor.execute(statement, (run_id,))
    return max(cursor.rowcount, 0)


def _insert_statement(step: TransformStep, shared: Sequence[str], *, hashed: bool) -> sql.Composable:
    cols = sql.SQL(", ").join(column_identifier(c) for c in shared)
    return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} AS s WHERE s.{} = %s{}").format(
        table_identifier(step.destination_table),
        cols,
        cols,
        table_identifier(step.staging_table),
        sql.Identifier(RUN_ID_COLUMN),
        sql.SQL("").join(sql.SQL(" AND NOT ({})").format(k) for k in _known_key(step, hashed=hashed))
        if _skips_known_rows(step)
        else sql.SQL(""),
    )


def _hashes_keys(cursor: psycopg.Cursor, statement: sql.Composable, run_id: str) -> bool:
    """Whether PostgreSQL plans the destination's keys of ``statement`` as one hash table, built once.

    It does when it expects them to fit in its hash memory; otherwise the subquery would be run again
    for every staging row, and the statement with ``EXISTS`` (a join) is used instead.
    """
    ((plan,),) = cursor.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement, (run_id,)).fetchall()
    return "hashed SubPlan" in json.dumps(plan)


def _skips_known_rows(step: TransformStep) -> bool:
    """An append with a deduplication key drops the rows whose key the destination has (an upsert updates them)."""
    return step.load_method == "append" and bool(step.dedup_key) and step.strategy != "upsert"


def _shared_columns(conn: psycopg.Connection, step: TransformStep) -> list[str]:
    dest_cols = table_columns(conn, step.destination_table)
    staging_cols = set(table_columns(conn, step.staging_table)) - {RUN_ID_COLUMN}
    shared = [c for c in dest_cols if c in staging_cols]
    if not shared:
        raise ConfigError(f"{step.staging_table} and {step.destination_table} have no column in common.")
    return shared


def _key_match(left: str, right: str, key: Sequence[str]) -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("{}.{} IS NOT DISTINCT FROM {}.{}").format(
            sql.Identifier(left), column_identifier(k), sql.Identifier(right), column_identifier(k)
        )
        for k in key
    )


@register_strategy("upsert")
def upsert_strategy(cursor: psycopg.Cursor, step: TransformStep, run_id: str) -> None:
    """MERGE this run's staging rows into the destination by the deduplication key (last row per key wins)."""
    if not step.dedup_key:
        raise ConfigError(f"{step.import_name}: the upsert strategy needs a deduplication key.")
    shared = _shared_columns(cursor.connection, step)
    missing = [k for k in step.dedup_key if k not in shared]
    if missing:
        raise ConfigError(f"{step.import_name}: key column(s) {', '.join(missing)} are not in both tables.")
    cols = sql.SQL(", ").join(column_identifier(c) for c in shared)
    keys = sql.SQL(", ").join(column_identifier(k) for k in step.dedup_key)
    others = [c for c in shared if c not in step.dedup_key]
    matched = (
        sql.SQL("WHEN MATCHED THEN UPDATE SET {}").format(
            sql.SQL(", ").join(sql.SQL("{} = s.{}").format(column_identifier(c), column_identifier(c)) for c in others)
        )
        if others
        else sql.SQL("")
    )
    cursor.execute(
        sql.SQL(
            "MERGE INTO {dest} AS d USING (SELECT DISTINCT ON ({keys}) {cols} FROM {stg} WHERE {run} = %s "
            "ORDER BY {keys}, ctid DESC) AS s ON {match} {matched} "
            "WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})"
        ).format(
            dest=table_identifier(step.destination_table),
            keys=keys,
            cols=cols,
            stg=table_identifier(step.staging_table),
            run=sql.Identifier(RUN_ID_COLUMN),
            match=_key_match("d", "s", step.dedup_key),
            matched=matched,
            values=sql.SQL(", ").join(sql.SQL("s.{}").format(column_identifier(c)) for c in shared),
        ),
        (run_id,),
    )


def _known_key(step: TransformStep, *, hashed: bool = False) -> tuple[sql.Composable, sql.Composable]:
    """Two conditions, true for a staging row (alias ``s``) whose deduplication key the destination already has.

    Keys match NULL to NULL. Rows whose key has no NULL are matched with ``=`` (the first condition),
    which PostgreSQL can hash (``IS NOT DISTINCT FROM`` cannot: it would compare every staging row with
    every destination row); only rows with a NULL in their key are matched NULL-safely (the second),
    and only when some destination key holds a NULL (a check PostgreSQL makes once, before any scan).
    Kept apart so that each can be a join of its own.

    ``hashed``: the first condition is ``IN`` over the destination's keys rather than ``EXISTS``: looked up
    in a hash table built once, which costs less than half what a hash join's probe does per staging row,
    but is only safe when PostgreSQL chooses to hash it (see :func:`_hashes_keys`).
    """
    dest = table_identifier(step.destination_table)

    def each_key(template: str, alias: str, joiner: str) -> sql.Composable:
        return sql.SQL(joiner).join(
            sql.SQL(template).format(sql.Identifier(alias), column_identifier(k)) for k in step.dedup_key
        )

    def some_null(alias: str) -> sql.Composable:
        return each_key("{}.{} IS NULL", alias, " OR ")

    def no_null(alias: str) -> sql.Composable:
        return each_key("{}.{} IS NOT NULL", alias, " AND ")

    if hashed:  # with no NULL on either side, IN is true or false, never NULL
        by_value = sql.SQL("{} AND ({}) IN (SELECT {} FROM {} AS d WHERE {})").format(
            no_null("s"), each_key("{}.{}", "s", ", "), each_key("{}.{}", "d", ", "), dest, no_null("d")
        )
    else:
        equal = sql.SQL(" AND ").join(
            sql.SQL("d.{} = s.{}").format(column_identifier(k), column_identifier(k)) for k in step.dedup_key
        )
        by_value = sql.SQL("EXISTS (SELECT 1 FROM {} AS d WHERE {})").format(dest, equal)
    null_safe = sql.SQL(
        "({}) AND EXISTS (SELECT 1 FROM {} AS n WHERE {}) AND EXISTS (SELECT 1 FROM {} AS d WHERE {})"
    ).format(some_null("s"), dest, some_null("n"), dest, _key_match("d", "s", step.dedup_key))
    return by_value, null_safe


def _remove_known_rows(cursor: psycopg.Cursor, step: TransformStep, run_id: str) -> int:
    """Append with a deduplication key into a procedure: drop this run's staging rows whose key the destination has.

    The procedure reads staging, so the rows go from there (the built-in insert leaves them out as it inserts).
    """
    removed = 0
    for known in _known_key(step):
        cursor.execute(
            sql.SQL("DELETE FROM {} AS s WHERE s.{} = %s AND {}").format(
                table_identifier(step.staging_table), sql.Identifier(RUN_ID_COLUMN), known
            ),
            (run_id,),
        )
        removed += max(cursor.rowcount, 0)
    return removed


def _count(cursor: psycopg.Cursor, table: str, run_id: str | None = None) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(table_identifier(table))
    if run_id is None:
        return cursor.execute(query).fetchone()[0]
    query = query + sql.SQL(" WHERE {} = %s").format(sql.Identifier(RUN_ID_COLUMN))
    return cursor.execute(query, (run_id,)).fetchone()[0]


def _has_rows(cursor: psycopg.Cursor, table: str, run_id: str) -> bool:
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} = %s)").format(
        table_identifier(table), sql.Identifier(RUN_ID_COLUMN)
    )
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
        with conn.transaction(), conn.cursor() as cursor, local_settings(conn, NO_JIT):
            for table in sorted({s.destination_table for s in steps}):
                table_columns(conn, table)  # a clear error when the destination is missing
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_NAMESPACE + table,))
            for table in sorted({s.staging_table for s in steps}):  # plans that join staging need its row count
                keys = [k for s in steps if s.staging_table == table for k in s.dedup_key]
                refresh_if_stale(conn, table, run_id, keys)
            # a procedure may clear staging: count its rows now; a strategy's are counted as it takes them
            staging_rows = {s.import_name: _count(cursor, s.staging_table, run_id) for s in steps if s.procedure}
            empty_replace = [
                s for s in steps if s.load_method == "replace" and not _has_rows(cursor, s.staging_table, run_id)
            ]
            if empty_replace:
                names = ", ".join(f"{s.import_name} ({s.destination_table})" for s in empty_replace)
                raise TransformError(
                    f"This run staged no rows for {names}; a replace load would have emptied the destination, "
                    "so it was stopped and the destination left as it was.",
                    hint="The file had a header but no data rows. Drop a file with data to replace the table.",
                )
            # a procedure reads staging: known rows go from there first
            removed = {
                s.import_name: _remove_known_rows(cursor, s, run_id)
                for s in steps
                if s.procedure and _skips_known_rows(s)
            }
            _truncate(cursor, sorted({s.destination_table for s in steps if not s.procedure} & set(replace_tables)))
            # a destination only the built-in insert writes ends with the rows it had plus those inserted:
            # counting them now reads fewer rows than counting afterwards
            held = {s.destination_table for s in steps if not s.procedure and s.strategy == "insert"}
            held -= {s.destination_table for s in steps if s.procedure or s.strategy != "insert"}
            rows_now = {t: 0 if t in replace_tables else _count(cursor, t) for t in sorted(held)}
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
                    staged = step.staged_rows if _skips_known_rows(step) else None
                    if _skips_known_rows(step) and staged is None:
                        staged = _count(cursor, step.staging_table, run_id)
                    moved = strategy(cursor, step, run_id)
                    if moved is None:
                        moved = _count(cursor, step.staging_table, run_id)
                    if staged is not None:  # the insert left the known rows out
                        if staged < moved:  # the load's count no longer holds: count what is there
                            staged = _count(cursor, step.staging_table, run_id)
                        removed[step.import_name] = staged - moved
                    staging_rows[step.import_name] = removed.get(step.import_name, 0) + moved
                    if step.destination_table in rows_now:
                        rows_now[step.destination_table] += moved
            for table in sorted({s.destination_table for s in steps} - set(rows_now)):
                rows_now[table] = _count(cursor, table)
            return [
                TransformResult(
                    import_name=s.import_name,
                    destination_table=s.destination_table,
                    staging_rows=staging_rows[s.import_name],
                    destination_rows=rows_now[s.destination_table],
                    truncated=s.destination_table in replace_tables,
                    duplicates_removed=removed.get(s.import_name, 0),
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
