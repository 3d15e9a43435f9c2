"""Fill NULLs in a run's staging rows from a lookup table: in the load's stream, or with ``UPDATE ... FROM``.

Only rows tagged with the run's id and only NULL values change; values already present are
kept. When the lookup holds a key more than once, the smallest non-NULL value is used, so a
run gives the same result every time. Rules apply in order (a later rule may key on a column an
earlier one filled).

Two ways, one result. :func:`stream_enricher` fills each batch of the file before COPY, when
that provably gives what the UPDATE would: text keys compared byte for byte (same deterministic
collation on both sides), a lookup value of exactly the target column's type (its text form is
read back by the same input function), no defaults on the columns involved (so every file
maps a column to each) and a lookup of at most ``STREAM_MAX_KEYS`` keys, held in memory.
Otherwise :func:`apply_enrichment` runs one ``UPDATE`` per rule after the load. Either way all rules
apply or none: the load's transaction, or a savepoint in the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from dagster_code.engine.errors import ConfigError, EnrichmentError
from dagster_code.engine.identifiers import column_identifier, identifier_parts, table_identifier
from dagster_code.engine.mapping import RUN_ID_COLUMN
from dagster_code.engine.session import NO_JIT, local_settings
from dagster_code.engine.statistics import refresh_if_stale


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
    with conn.transaction(), local_settings(conn, NO_JIT):
        refresh_if_stale(conn, table, run_id, [rule.staging_key for rule in rules])  # the fills join staging
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


# ------------------------------------------------------------------ in the load's stream

STREAM_MAX_KEYS = 250_000  # larger lookups fill with UPDATE: each batch hashes the lookup's keys
_TEXT_KEY_TYPES = {"text", "character varying"}  # stored exactly as read from the file


@dataclass(frozen=True)
class _Lookup:
    rule: EnrichmentRule
    keys: pa.Array  # lookup keys, as text
    values: pa.Array  # the smallest value of each key, as PostgreSQL prints it


class StreamEnricher:
    """Fills the NULLs of each batch before COPY; ``results()`` afterwards, as :func:`apply_enrichment` reports."""

    def __init__(self, lookups: Sequence[_Lookup]) -> None:
        self._lookups = tuple(lookups)
        self._filled = [0] * len(self._lookups)
        self._missing = dict.fromkeys((lk.rule.target_column for lk in self._lookups), 0)

    def batches(self, batches: Iterable[pa.RecordBatch], mapped: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """``batches`` (one column per name of ``mapped``) with the targets filled.

        Key and target columns have no default, so every file maps a column to each of them.
        """
        for batch in batches:
            columns = dict(zip(mapped, batch.columns, strict=True))
            for i, lookup in enumerate(self._lookups):
                target = columns[lookup.rule.target_column]
                if target.null_count:
                    target, filled = _fill_batch(target, columns[lookup.rule.staging_key], lookup)
                    self._filled[i] += filled
                    columns[lookup.rule.target_column] = target
            for name in self._missing:
                self._missing[name] += columns[name].null_count
            yield pa.RecordBatch.from_arrays([columns[n] for n in mapped], names=list(mapped))

    def results(self) -> list[EnrichmentResult]:
        return [
            EnrichmentResult(name=lk.rule.name, filled=n, still_missing=self._missing[lk.rule.target_column])
            for lk, n in zip(self._lookups, self._filled, strict=True)
        ]


def _fill_batch(target: pa.Array, key: pa.Array, lookup: _Lookup) -> tuple[pa.Array, int]:
    if key.null_count == len(key):
        return target, 0
    found = pc.index_in(key, value_set=lookup.keys.cast(key.type))
    values = lookup.values.cast(target.type).take(found)
    filled = pc.sum(pc.and_(pc.is_null(target), pc.is_valid(values))).as_py() or 0
    return pc.coalesce(target, values), filled


def stream_enricher(
    conn: psycopg.Connection, *, table: str, rules: Sequence[EnrichmentRule], max_keys: int | None = None
) -> StreamEnricher | None:
    """A :class:`StreamEnricher` for ``rules`` when the stream gives the UPDATE's result, else None.

    Raises :class:`EnrichmentError` for a rule that cannot run at all (as :func:`apply_enrichment`).
    """
    if not rules:
        return None
    identifier_parts(table)
    staging = _columns(conn, table)
    if staging is None:
        raise EnrichmentError(f"The staging table {table} does not exist in the warehouse.")
    for rule in rules:
        _check_rule(conn, rule, table, staging)
    facts = {table: _column_facts(conn, table)}
    for rule in rules:
        facts.setdefault(rule.lookup_table, _column_facts(conn, rule.lookup_table))
    if not all(_streamable(rule, facts[table], facts[rule.lookup_table]) for rule in rules):
        return None
    lookups = []
    for rule in rules:
        pairs = _lookup_pairs(conn, rule, STREAM_MAX_KEYS if max_keys is None else max_keys)
        if pairs is None:
            return None
        keys, values = zip(*pairs, strict=True) if pairs else ((), ())
        lookups.append(_Lookup(rule, pa.array(keys, pa.string()), pa.array(values, pa.string())))
    return StreamEnricher(lookups)


@dataclass(frozen=True)
class _Fact:
    type_name: str
    collation: int
    deterministic: bool
    plain: bool  # no default, not an identity or generated column


def _column_facts(conn: psycopg.Connection, table: str) -> dict[str, _Fact]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attcollation, "
        "coalesce(c.collisdeterministic, true), NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '' "
        "FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
        (table_identifier(table).as_string(conn),),
    ).fetchall()
    return {name: _Fact(*facts) for name, *facts in rows}


def _streamable(rule: EnrichmentRule, staging: dict[str, _Fact], lookup: dict[str, _Fact]) -> bool:
    key, target = staging[rule.staging_key], staging[rule.target_column]
    lookup_key, value = lookup[rule.lookup_key], lookup[rule.lookup_value]
    return (
        key.type_name in _TEXT_KEY_TYPES
        and lookup_key.type_name.split("(")[0] in _TEXT_KEY_TYPES
        and key.collation == lookup_key.collation
        and key.deterministic
        and target.type_name == value.type_name
        and key.plain
        and target.plain
    )


def _lookup_pairs(conn: psycopg.Connection, rule: EnrichmentRule, max_keys: int) -> list[tuple[str, str]] | None:
    """(key, smallest value) pairs of the lookup, as text; None when it holds more than ``max_keys`` keys."""
    query = sql.SQL(
        "SELECT DISTINCT ON ({lkey}) {lkey}::text, {value}::text FROM {lookup} "
        "WHERE {lkey} IS NOT NULL AND {value} IS NOT NULL ORDER BY {lkey}, {value} LIMIT %s"
    ).format(
        lkey=column_identifier(rule.lookup_key),
        value=column_identifier(rule.lookup_value),
        lookup=table_identifier(rule.lookup_table),
    )
    try:
        with conn.transaction():
            rows = conn.execute(query, (max_keys + 1,)).fetchall()
    except psycopg.Error as exc:
        primary = (exc.diag.message_primary or str(exc).splitlines()[0]).rstrip(".")
        raise EnrichmentError(
            f"{rule.name}: reading {rule.lookup_table} failed: {primary}.", detail=f"{type(exc).__name__}: {exc}"
        ) from exc
    return rows if len(rows) <= max_keys else None
