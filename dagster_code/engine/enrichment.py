"""Fill NULLs in a run's staging rows from a lookup table, one ``UPDATE ... FROM`` per rule.

Only rows tagged with the run's id and only NULL values change; values already present are
kept. When the lookup holds a key more than once, the smallest non-NULL value is used, so a
run gives the same result every time. All rules apply or none: a savepoint in the caller's
transaction (never committed here), or a transaction of its own on an autocommit connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from dagster_code.engine.errors import ConfigError, EnrichmentError
from dagster_code.engine.identifiers import column_identifier, identifier_parts, table_identifier
from dagster_code.engine.mapping import RUN_ID_COLUMN


@dataclass(frozen=True)
class EnrichmentRule:
    name: str
    staging_table: str
    target_column: str
    lookup_table: str
    staging_key: str
    lookup_key: str
    lookup_value: str


@dataclass(frozen=True)
class EnrichmentResult:
    name: str
    filled: int
    still_missing: int  # NULLs left in the target column among the run's rows, after every rule ran


def apply_enrichment(
    conn: psycopg.Connection, *, table: str, run_id: str, rules: Sequence[EnrichmentRule]
) -> list[EnrichmentResult]:
    """Apply ``rules`` to the rows of ``table`` tagged ``run_id``; one result per rule, in order."""
    if not rules:
        return []
    identifier_parts(table)
    # Without autocommit this first query opens the caller's transaction, so the block below is a
    # savepoint in it and nothing is committed here; in autocommit mode the block is its own transaction.
    staging = _columns(conn, table)
    if staging is None:
        raise EnrichmentError(f"The staging table {table} does not exist in the warehouse.")
    for rule in rules:
        _check_rule(conn, rule, table, staging)
    with conn.transaction():
        filled = [_fill(conn, rule, table, run_id) for rule in rules]
        missing = _still_missing(conn, table, run_id, [rule.target_column for rule in rules])
        return [
            EnrichmentResult(name=rule.name, filled=n, still_missing=missing[rule.target_column])
            for rule, n in zip(rules, filled, strict=True)
        ]


def _columns(conn: psycopg.Connection, table: str) -> set[str] | None:
    qualified = table_identifier(table).as_string(conn)
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (qualified,),
    ).fetchall()
    return {r[0] for r in rows} or None


def _check_rule(conn: psycopg.Connection, rule: EnrichmentRule, table: str, staging: set[str]) -> None:
    if rule.staging_table != table:
        raise EnrichmentError(f"{rule.name} fills {rule.staging_table}, not {table}.")
    try:
        for name in (rule.target_column, rule.staging_key, rule.lookup_key, rule.lookup_value):
            column_identifier(name)
        identifier_parts(rule.lookup_table)
    except ConfigError as exc:
        raise EnrichmentError(f"{rule.name}: {exc.message}") from exc
    for name in (rule.target_column, rule.staging_key):
        if name not in staging or name == RUN_ID_COLUMN:
            raise EnrichmentError(f"{rule.name}: the column {name} is not in the staging table {table}.")
    lookup = _columns(conn, rule.lookup_table)
    if lookup is None:
        raise EnrichmentError(f"{rule.name}: the lookup table {rule.lookup_table} does not exist in the warehouse.")
    for name in (rule.lookup_key, rule.lookup_value):
        if name not in lookup:
            raise EnrichmentError(f"{rule.name}: the column {name} is not in the lookup table {rule.lookup_table}.")


def _fill(conn: psycopg.Connection, rule: EnrichmentRule, table: str, run_id: str) -> int:
    query = sql.SQL(
        "UPDATE {stg} AS s SET {target} = l.v "
        "FROM (SELECT DISTINCT ON ({lkey}) {lkey} AS k, {value} AS v FROM {lookup} "
        "WHERE {lkey} IS NOT NULL AND {value} IS NOT NULL ORDER BY {lkey}, {value}) AS l "
        "WHERE s.{run} = %s AND s.{target} IS NULL AND s.{skey} = l.k"
    ).format(
        stg=table_identifier(table),
        target=column_identifier(rule.target_column),
        lkey=column_identifier(rule.lookup_key),
        value=column_identifier(rule.lookup_value),
        lookup=table_identifier(rule.lookup_table),
        run=sql.Identifier(RUN_ID_COLUMN),
        skey=column_identifier(rule.staging_key),
    )
    try:
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(query, (run_id,))
            return max(cursor.rowcount, 0)
    except psycopg.Error as exc:
        primary = (exc.diag.message_primary or str(exc).splitlines()[0]).rstrip(".")
        raise EnrichmentError(
            f"{rule.name}: filling {rule.target_column} from {rule.lookup_table} failed: {primary}.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc


def _still_missing(conn: psycopg.Connection, table: str, run_id: str, columns: Sequence[str]) -> dict[str, int]:
    """NULLs left per target column, counted in one scan."""
    names = list(dict.fromkeys(columns))
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE {} IS NULL)").format(column_identifier(name)) for name in names
    )
    row = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(
            counts, table_identifier(table), sql.Identifier(RUN_ID_COLUMN)
        ),
        (run_id,),
    ).fetchone()
    return dict(zip(names, row, strict=True))
