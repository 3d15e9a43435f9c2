"""Quality rules over one run's staging rows, set-based, in as few scans of the table as possible.

Every row-level rule (NOT_NULL, IS_IN_SET, RANGE, REGEX, CUSTOM_SQL) is one
``count(*) FILTER (WHERE <fails>)`` of a single query, whose ``count(*)`` also answers ROW_COUNT_MIN;
each UNIQUE rule adds one grouped query (joined with the destination's keys when asked). Rows
failing a rule are sampled (5 at most) only for rules that fail. Only rows tagged with the run's
id are read.

NULL values: NOT_NULL fails on NULL; every other check lets NULL pass (as SQL ``CHECK``
constraints do). A CUSTOM_SQL condition that is NULL for a row passes. UNIQUE ignores NULLs and
counts every row whose value occurs more than once in the run (all its copies: none of them is
"the" original) and, when checked against the destination, every row whose value it already holds.
ROW_COUNT_MIN reports how many rows the run is short as its failing rows.

Rules are parsed again here with ``launchpad_rules`` (the grammar the admin validates with), and
SQL is built only from the parsed values: identifiers through ``psycopg.sql``, values as parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dagster_code.engine import quality_sql as q
from dagster_code.engine.errors import ConfigError, QualityError
from dagster_code.engine.identifiers import column_identifier, identifier_parts, table_identifier
from dagster_code.engine.mapping import RUN_ID_COLUMN
from launchpad_rules import CHECKS_WITHOUT_COLUMN, ParsedRule, RuleError, parse_rule

SEVERITIES = ("FAIL", "WARN")
_TEXT_TYPES = {"text", "character varying", "character"}  # UNIQUE groups these by hash first
# UNIQUE sorts the run's values in memory: sorting 64-bit keys then grouping beats a hash table of every value
_UNIQUE_SETTINGS = {"work_mem": "256MB", "enable_hashagg": "off"}


@dataclass(frozen=True)
class QualityRule:
    name: str
    table: str
    column: str  # empty for ROW_COUNT_MIN and CUSTOM_SQL
    check_type: str
    expression: str = ""
    severity: str = "FAIL"


@dataclass(frozen=True)
class RuleResult:
    name: str
    check_type: str
    severity: str
    rows_checked: int
    rows_failing: int  # ROW_COUNT_MIN: how many rows short of the minimum
    passed: bool
    sample: tuple[dict[str, Any], ...]
    message: str

    @property
    def blocks_run(self) -> bool:
        return not self.passed and self.severity == "FAIL"


@dataclass(frozen=True)
class _Column:
    type_name: str
    category: str  # pg_type.typcategory: N number, D date/time, S text, B boolean, ...


@dataclass(frozen=True)
class _Checked:
    rule: QualityRule
    parsed: ParsedRule
    column: _Column  # the checked column's type (empty for rules without one)


# ------------------------------------------------------------------ evaluation


def evaluate_rules(
    conn: psycopg.Connection,
    *,
    table: str,
    run_id: str,
    rules: Sequence[QualityRule],
    key_columns: Sequence[str] = (),
    destination: str | None = None,
) -> list[RuleResult]:
    """Evaluate ``rules`` on the rows of ``table`` tagged ``run_id``; one result per rule, in order.

    Raises :class:`QualityError` when a rule cannot run (bad expression, missing column or table);
    rows failing a rule are a result, not an error. Changes nothing. ``key_columns`` name the rows
    in samples (default: the table's first column and the checked columns); ``destination`` is
    needed by UNIQUE rules checked against it.
    """
    if not rules:
        return []
    identifier_parts(table)
    # without autocommit this first query opens the caller's transaction: the block below is a savepoint in it
    columns = _table_columns(conn, table, what="staging table")
    with conn.transaction():
        checked = _check_rules(conn, rules, table, columns, key_columns, destination)
        total, row_failures = _row_level_counts(conn, table, run_id, checked)
        unique = {
            id(c): _unique_counts(conn, table, run_id, c, destination) for c in checked if c.rule.check_type == "UNIQUE"
        }
        first_column = next((name for name in columns if name != RUN_ID_COLUMN), "")
        results = []
        for c in checked:
            if c.rule.check_type == "UNIQUE":
                results.append(_unique_result(c, total, unique[id(c)]))
            elif c.rule.check_type == "ROW_COUNT_MIN":
                results.append(_row_count_result(c, total))
            else:
                failing = row_failures[id(c)]
                keys = tuple(key_columns) or _default_keys(c, first_column)
                sample = _sample(conn, table, run_id, c, keys) if failing else ()
                results.append(_row_result(c, total, failing, sample))
        return results


def _table_columns(conn: psycopg.Connection, table: str, *, what: str) -> dict[str, _Column]:
    qualified = table_identifier(table).as_string(conn)
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory FROM pg_attribute a "
        "JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum",
        (qualified,),
    ).fetchall()
    if not rows:
        raise QualityError(f"The {what} {table} does not exist in the warehouse.")
    return {name: _Column(type_name, category) for name, type_name, category in rows}


def _check_rules(
    conn: psycopg.Connection,
    rules: Sequence[QualityRule],
    table: str,
    columns: Mapping[str, _Column],
    key_columns: Sequence[str],
    destination: str | None,
) -> list[_Checked]:
    checked = [_check_rule(rule, table, columns, destination) for rule in rules]
    for key in key_columns:
        _valid_column(key, "Sample keys")
        if key not in columns or key == RUN_ID_COLUMN:
            raise QualityError(f"The sample key column {key} is not in {table}.")
    if destination and any(c.parsed.against_destination for c in checked):
        held = _table_columns(conn, destination, what="destination table")
        for c in checked:
            if c.parsed.against_destination and c.rule.column not in held:
                raise QualityError(
                    f"{c.rule.name}: the destination {destination} has no column {c.rule.column} to check keys against."
                )
    return checked


def _check_rule(rule: QualityRule, table: str, columns: Mapping[str, _Column], destination: str | None) -> _Checked:
    """Parse the rule again (the database may have been edited by hand) and check it fits the table."""
    try:
        parsed = parse_rule(rule.check_type, rule.expression)
    except RuleError as exc:
        raise QualityError(f"{rule.name}: {exc.message}") from exc
    if rule.severity not in SEVERITIES:
        raise QualityError(f"{rule.name}: severity must be FAIL or WARN, not '{rule.severity}'.")
    if rule.table != table:
        raise QualityError(f"{rule.name} checks {rule.table}, not {table}.")
    needed = list(parsed.columns)
    if rule.check_type not in CHECKS_WITHOUT_COLUMN:
        if not rule.column:
            raise QualityError(f"{rule.name}: a {rule.check_type} check needs a column.")
        needed.insert(0, rule.column)
    for name in needed:
        _valid_column(name, rule.name)
        if name not in columns or name == RUN_ID_COLUMN:
            raise QualityError(f"{rule.name}: the column {name} is not in {table}{_did_you_mean(name, columns)}.")
    if rule.check_type == "RANGE":
        _check_range_type(rule, parsed, columns[rule.column])
    if parsed.against_destination and not destination:
        raise QualityError(f"{rule.name}: checking keys against the destination needs the destination table.")
    return _Checked(rule, parsed, columns.get(rule.column, _Column("", "")))


def _valid_column(name: str, owner: str) -> None:
    try:
        column_identifier(name)
    except ConfigError as exc:
        raise QualityError(f"{owner}: {exc.message}") from exc


def _did_you_mean(name: str, columns: Mapping[str, _Column]) -> str:
    close = [c for c in columns if c.lower() == name.lower() and c != RUN_ID_COLUMN]
    return f" (did you mean {close[0]}?)" if close else ""


def _check_range_type(rule: QualityRule, parsed: ParsedRule, column: _Column) -> None:
    wanted = {"number": "N", "date": "D"}[parsed.bound_kind]
    if column.category != wanted:
        raise QualityError(
            f"{rule.name}: the bounds are {parsed.bound_kind}s but {rule.column} is {column.type_name}; "
            f"use {parsed.bound_kind} bounds on a {parsed.bound_kind} column."
        )


def _fails(c: _Checked, params: q.Params) -> sql.Composable:
    return q.fail_condition(c.rule.check_type, c.rule.column, c.parsed, params)


def _row_level_counts(
    conn: psycopg.Connection, table: str, run_id: str, checked: Sequence[_Checked]
) -> tuple[int, dict[int, int]]:
    """One scan: the run's row count and, per row-level rule, how many rows fail it."""
    row_level = [c for c in checked if q.is_row_level(c.rule.check_type)]
    params = q.Params(run_id=run_id)
    query = q.counts_query(table, [_fails(c, params) for c in row_level])
    try:
        with conn.transaction():
            row = conn.execute(query, params).fetchone()
    except psycopg.Error as exc:
        raise _which_rule_failed(conn, table, run_id, row_level, exc) from exc
    return row[0], {id(c): n for c, n in zip(row_level, row[1:], strict=True)}


def _which_rule_failed(
    conn: psycopg.Connection, table: str, run_id: str, row_level: Sequence[_Checked], exc: psycopg.Error
) -> QualityError:
    """The combined query failed: run each rule alone to name the one PostgreSQL refused."""
    for c in row_level:
        params = q.Params(run_id=run_id)
        try:
            with conn.transaction():
                conn.execute(q.counts_query(table, [_fails(c, params)]), params)
        except psycopg.Error as own:
            return _rule_error(c.rule, table, own)
    return QualityError(
        f"The quality rules on {table} could not run: {_primary(exc)}.", detail=f"{type(exc).__name__}: {exc}"
    )


def _rule_error(rule: QualityRule, table: str, exc: psycopg.Error) -> QualityError:
    return QualityError(
        f"{rule.name}: the check cannot run on {table}: {_primary(exc)}.", detail=f"{type(exc).__name__}: {exc}"
    )


def _primary(exc: psycopg.Error) -> str:
    return (exc.diag.message_primary or str(exc).splitlines()[0]).rstrip(".")


@dataclass(frozen=True)
class _UniqueCounts:
    failing: int
    repeated_rows: int
    repeated_values: int
    known_rows: int
    sample: tuple[dict[str, Any], ...]


def _unique_counts(
    conn: psycopg.Connection, table: str, run_id: str, c: _Checked, destination: str | None
) -> _UniqueCounts:
    """One grouped statement: values repeated within the run and, if asked, values the destination holds."""
    query = q.unique_query(
        table,
        c.rule.column,
        hashed=c.column.type_name.split("(")[0] in _TEXT_TYPES,
        destination=destination if c.parsed.against_destination else None,
    )
    try:
        with conn.transaction():  # rolled back on error, with the settings
            previous = _set_local(conn, _UNIQUE_SETTINGS)
            failing, repeated, values, known, keys, counts, flags = conn.execute(query, {"run_id": run_id}).fetchone()
            _set_local(conn, previous)
    except psycopg.Error as exc:
        raise _rule_error(c.rule, table, exc) from exc
    sample = tuple(
        {c.rule.column: key, "rows": n, **({"in_destination": True} if flag else {})}
        for key, n, flag in zip(keys or (), counts or (), flags or (), strict=True)
    )
    return _UniqueCounts(failing, repeated, values, known, sample)


def _set_local(conn: psycopg.Connection, settings: Mapping[str, str]) -> dict[str, str]:
    """Set ``settings`` for the current transaction; return their previous values, to put them back."""
    names, values = list(settings), list(settings.values())
    (previous,) = conn.execute(
        "SELECT array_agg(current_setting(n) ORDER BY i) FROM unnest(%s::text[]) WITH ORDINALITY AS s(n, i)", (names,)
    ).fetchone()
    conn.execute("SELECT set_config(n, v, true) FROM unnest(%s::text[], %s::text[]) AS s(n, v)", (names, values))
    return dict(zip(names, previous, strict=True))


def _default_keys(c: _Checked, first_column: str) -> tuple[str, ...]:
    named = [c.rule.column] if c.rule.column else list(c.parsed.columns[:3])
    return tuple(dict.fromkeys([first_column, *named])) if first_column else tuple(named)


def _sample(
    conn: psycopg.Connection, table: str, run_id: str, c: _Checked, keys: Sequence[str]
) -> tuple[dict[str, Any], ...]:
    params = q.Params(run_id=run_id)
    rows = conn.execute(q.sample_query(table, keys, _fails(c, params)), params).fetchall()
    return tuple(dict(zip(keys, row, strict=True)) for row in rows)


# ------------------------------------------------------------------ results and messages


def _what(c: _Checked) -> str:
    on = f" on {c.rule.column}" if c.rule.column else ""
    details = c.parsed.describe()
    return f"{c.rule.check_type}{on}" + (f", {details}" if details else "")


def _row_result(c: _Checked, total: int, failing: int, sample: tuple[dict[str, Any], ...]) -> RuleResult:
    if failing:
        message = f"{c.rule.name}: {failing:,} of {total:,} rows fail ({_what(c)}).{_sample_text(sample)}"
    else:
        message = f"{c.rule.name}: all {total:,} rows pass ({_what(c)})."
    return _result(c, total, failing, not failing, sample, message)


def _unique_result(c: _Checked, total: int, counts: _UniqueCounts) -> RuleResult:
    if not counts.failing:
        return _result(c, total, 0, True, (), f"{c.rule.name}: all {total:,} rows pass ({_what(c)}).")
    reasons = []
    if counts.repeated_rows:
        reasons.append(f"{_n(counts.repeated_rows, 'row')} share {_n(counts.repeated_values, 'repeated value')}")
    if counts.known_rows:
        verb = "has" if counts.known_rows == 1 else "have"
        reasons.append(f"{_n(counts.known_rows, 'row')} {verb} a value the destination already holds")
    message = (
        f"{c.rule.name}: {counts.failing:,} of {total:,} rows fail ({_what(c)}): {'; '.join(reasons)}."
        f"{_sample_text(counts.sample)}"
    )
    return _result(c, total, counts.failing, False, counts.sample, message)


def _row_count_result(c: _Checked, total: int) -> RuleResult:
    minimum = c.parsed.min_rows
    if total >= minimum:
        message = f"{c.rule.name}: {total:,} rows, at least the minimum of {minimum:,} ({c.rule.check_type})."
        return _result(c, total, 0, True, (), message)
    message = (
        f"{c.rule.name}: only {_n(total, 'row')}, {minimum - total:,} short of the minimum of {minimum:,} "
        f"({c.rule.check_type})."
    )
    return _result(c, total, minimum - total, False, (), message)


def _result(
    c: _Checked, total: int, failing: int, passed: bool, sample: tuple[dict[str, Any], ...], message: str
) -> RuleResult:
    return RuleResult(
        name=c.rule.name,
        check_type=c.rule.check_type,
        severity=c.rule.severity,
        rows_checked=total,
        rows_failing=failing,
        passed=passed,
        sample=sample,
        message=message,
    )


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _sample_text(sample: Sequence[Mapping[str, Any]]) -> str:
    if not sample:
        return ""
    return f" Sample: {', '.join(_row_text(row) for row in sample)}."


def _row_text(row: Mapping[str, Any]) -> str:
    shown = [f"{k}={_value_text(v)}" for k, v in row.items() if k not in ("rows", "in_destination")]
    text = shown[0] if len(shown) == 1 else f"({', '.join(shown)})"
    if row.get("in_destination"):
        return f"{text} (already loaded)"
    if "rows" in row:
        return f"{text} ({row['rows']} rows)"
    return text


def _value_text(value: Any) -> str:
    if value is None:
        return "NULL"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
