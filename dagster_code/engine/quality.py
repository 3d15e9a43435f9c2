"""Quality rules over one run's staging rows, set-based, in one statement.

The statement is a UNION ALL of branches: the row-level rules (NOT_NULL, IS_IN_SET, RANGE, REGEX,
CUSTOM_SQL) as ``count(*) FILTER (WHERE <fails>)`` columns of one scan (whose ``count(*)`` also
answers ROW_COUNT_MIN), and one grouping per UNIQUE rule (joined with the destination's keys when
asked). On a run large enough for PostgreSQL to scan in parallel, the branches run side by side in
parallel workers (a Parallel Append), each branch whole in one process, and the row-level scan is
cut into block ranges (TID range scans) so that every row is still read once for all of them.
A REGEX rule on a text column is counted over the range's values joined into lines, with one regex
search per range (see :mod:`dagster_code.engine.regex_lines`), when its pattern allows it.
Rows failing a rule are sampled (5 at most) only for rules that fail. Only rows tagged with the
run's id are read.

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
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq, sql

from dagster_code.engine import quality_sql as q
from dagster_code.engine.errors import ConfigError, QualityError
from dagster_code.engine.identifiers import column_identifier, identifier_parts, table_identifier
from dagster_code.engine.mapping import RUN_ID_COLUMN
from dagster_code.engine.regex_lines import good_lines_pattern
from dagster_code.engine.session import NO_JIT, local_settings
from launchpad_rules import CHECKS_WITHOUT_COLUMN, ParsedRule, RuleError, parse_rule

SEVERITIES = ("FAIL", "WARN")
_TEXT_TYPES = {"text", "character varying", "character"}  # UNIQUE groups these by hash first
# UNIQUE sorts the run's values in memory: sorting 64-bit keys then grouping beats a hash table of every value.
# Every join of the statement is between sets that grow with the run: no nested loop, whatever the statistics
# (a table still being loaded may have none, and one rescan of the other side per row would never finish).
_COUNT_SETTINGS = {**NO_JIT, "work_mem": "256MB", "enable_hashagg": "off", "enable_nestloop": "off"}
# On a large run, the branches of the statement run side by side, each whole in one process (a Parallel
# Append): no partial scans inside a branch (a UNIQUE's partial groups of distinct values would not
# shrink, workers would only add a merge), and no start-up cost standing in the way.
_SIDE_BY_SIDE = {
    "parallel_setup_cost": "0",
    "min_parallel_table_scan_size": "1TB",
    "min_parallel_index_scan_size": "1TB",
}
# On a large run the row-level rules are counted in this many scans, each of its own range of the table's
# blocks: every row is read once for all of them, and small equal parts keep the processes evenly busy
# next to the UNIQUE branches, which each need every row in one place.
_BLOCK_RANGES = 4
# REGEX rules whose values are joined into one text per block range (see regex_lines): at most this many blocks
# (8 MB) per range, so the text, which is no larger than the pages, stays small; larger tables than this many
# ranges cover have their REGEX rules matched row by row.
_LINE_BLOCKS = 1024
_MAX_LINE_RANGES = 256
_LINE_TYPES = {"text", "character varying"}  # "::text" reads the stored value itself


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
    type_oid: int = 0


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
        counts = _counts(conn, table, run_id, checked, destination)
        total = counts.total
        first_column = next((name for name in columns if name != RUN_ID_COLUMN), "")
        results = []
        for c in checked:
            if c.rule.check_type == "UNIQUE":
                results.append(_unique_result(c, total, counts.unique[id(c)]))
            elif c.rule.check_type == "ROW_COUNT_MIN":
                results.append(_row_count_result(c, total))
            else:
                failing = counts.failing[id(c)]
                keys = tuple(key_columns) or _default_keys(c, first_column)
                sample = _sample(conn, table, run_id, c, keys) if failing else ()
                results.append(_row_result(c, total, failing, sample))
        return results


def _table_columns(conn: psycopg.Connection, table: str, *, what: str) -> dict[str, _Column]:
    qualified = table_identifier(table).as_string(conn)
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory, a.atttypid FROM pg_attribute a "
        "JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum",
        (qualified,),
    ).fetchall()
    if not rows:
        raise QualityError(f"The {what} {table} does not exist in the warehouse.")
    return {name: _Column(type_name, category, oid) for name, type_name, category, oid in rows}


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


@dataclass(frozen=True)
class _UniqueCounts:
    failing: int
    repeated_rows: int
    repeated_values: int
    known_rows: int
    sample: tuple[dict[str, Any], ...]


@dataclass
class _Counts:
    total: int = 0
    failing: dict[int, int] = field(default_factory=dict)  # row-level rules, by id() of the checked rule
    unique: dict[int, _UniqueCounts] = field(default_factory=dict)


@dataclass(frozen=True)
class _Branch:
    """One branch of the rules' statement: a UNIQUE rule, or every row-level rule over (a block range of) the rows."""

    rules: tuple[_Checked, ...]
    blocks: q.Blocks | None = None

    @property
    def unique(self) -> _Checked | None:
        return self.rules[0] if self.rules and self.rules[0].rule.check_type == "UNIQUE" else None


def _branches(checked: Sequence[_Checked], size: _Table, good_lines: bool) -> list[_Branch]:
    """Row-level rules in one scan, or in scans of block ranges; each UNIQUE alone.

    A table large enough to be read by parallel workers is cut into :data:`_BLOCK_RANGES` ranges;
    with ``good_lines`` (a REGEX rule joins the values it checks into one text per range) into
    ranges of at most :data:`_LINE_BLOCKS` blocks too, which bounds that text.

    The row-level branches always exist (they count the run's rows, for ROW_COUNT_MIN and the messages).
    The last block range is open, so blocks added after the size was measured are read too. When the
    rows are cut into ranges, each UNIQUE reads the range of all blocks: through the shared buffers, as
    the ranges do, so a page read once from the OS serves every branch (a sequential scan of a large
    table would read it again, into a ring of its own).
    """
    row_level = tuple(c for c in checked if q.is_row_level(c.rule.check_type))
    ranges: list[q.Blocks | None] = [None]
    whole: q.Blocks | None = None
    parts = _BLOCK_RANGES if size.parallel and size.blocks >= _BLOCK_RANGES else 1
    if good_lines:
        parts = max(parts, -(-size.blocks // _LINE_BLOCKS))
    if parts > 1:
        starts = [size.blocks * i // parts for i in range(parts)]
        ranges = [(start, end) for start, end in zip(starts, [*starts[1:], None], strict=True)]
        whole = (0, None)
    uniques = [_Branch((c,), whole) for c in checked if c.rule.check_type == "UNIQUE"]
    return [*(_Branch(row_level, r) for r in ranges), *uniques]


def _branch_sql(
    part: int, branch: _Branch, table: str, params: q.Params, destination: str | None, good_lines: bool = False
) -> sql.Composable:
    c = branch.unique
    if c is not None:
        hashed = c.column.type_name.split("(")[0] in _TEXT_TYPES
        dest = destination if c.parsed.against_destination else None
        return q.unique_branch(part, table, c.rule.column, hashed=hashed, destination=dest, blocks=branch.blocks)
    conditions = [_condition(c, params, good_lines) for c in branch.rules]
    return q.counts_branch(part, table, conditions, blocks=branch.blocks)


def _good_lines(c: _Checked) -> str | None:
    """The good-lines pattern of a REGEX rule on a text column (see :mod:`regex_lines`), else None."""
    if c.rule.check_type != "REGEX" or c.column.type_name.split("(")[0] not in _LINE_TYPES:
        return None
    return good_lines_pattern(c.parsed.pattern)


def _condition(c: _Checked, params: q.Params, good_lines: bool) -> sql.Composable | q.GoodLines:
    runs = _good_lines(c) if good_lines else None
    if runs is None:
        return _fails(c, params)
    return q.GoodLines(column_identifier(c.rule.column), params.add(runs))


def _statement(
    conn: psycopg.Connection,
    table: str,
    run_id: str,
    checked: Sequence[_Checked],
    destination: str | None,
    *,
    good_lines: bool = True,
) -> tuple[sql.Composable, q.Params, dict[str, str], list[_Branch]]:
    """The rules' statement, its parameters, the settings it runs under and its branches.

    ``good_lines``: REGEX rules whose pattern allows it are counted over their values joined into lines, unless the
    table is too large for :data:`_MAX_LINE_RANGES` ranges of :data:`_LINE_BLOCKS` blocks.
    """
    size = _table_size(conn, table)
    good_lines = good_lines and any(_good_lines(c) for c in checked) and size.blocks <= _MAX_LINE_RANGES * _LINE_BLOCKS
    branches = _branches(checked, size, good_lines)
    params = q.Params(run_id=run_id)
    query = q.union_all([_branch_sql(i, b, table, params, destination, good_lines) for i, b in enumerate(branches)])
    settings = dict(_COUNT_SETTINGS)
    if len(branches) > 1 and size.parallel:
        settings.update(_SIDE_BY_SIDE)
    return query, params, settings, branches


def _counts(
    conn: psycopg.Connection, table: str, run_id: str, checked: Sequence[_Checked], destination: str | None
) -> _Counts:
    """Every count the rules need, from one statement whose branches PostgreSQL may run side by side.

    Should PostgreSQL refuse a good-lines pattern where it compiles the rule's own (too complex, say),
    the statement runs again with every REGEX rule matched row by row.
    """
    query, params, settings, branches = _statement(conn, table, run_id, checked, destination)
    try:
        try:
            with conn.transaction(), local_settings(conn, settings):
                rows = conn.execute(query, params).fetchall()
        except psycopg.errors.InvalidRegularExpression:
            query, params, settings, branches = _statement(conn, table, run_id, checked, destination, good_lines=False)
            with conn.transaction(), local_settings(conn, settings):
                rows = conn.execute(query, params).fetchall()
    except psycopg.Error as exc:
        raise _which_rule_failed(conn, table, run_id, checked, destination, exc) from exc
    counts = _Counts()
    recount: set[int] = set()
    for part, numbers, keys, sizes, known in rows:
        branch = branches[part]
        c = branch.unique
        if c is not None:
            failing, repeated, values, known_rows = numbers
            sample = tuple(
                {c.rule.column: value, "rows": n, **({"in_destination": True} if flag else {})}
                for value, n, flag in zip(_typed(conn, c.column, keys or ()), sizes or (), known or (), strict=True)
            )
            counts.unique[id(c)] = _UniqueCounts(failing, repeated, values, known_rows, sample)
        else:  # one block range: its counts add to the others'
            counts.total += numbers[0]
            for rule, n in zip(branch.rules, numbers[1:], strict=True):
                if n < 0:  # good lines: more lines than values (a newline in a value), matched row by row below
                    recount.add(id(rule))
                counts.failing[id(rule)] = counts.failing.get(id(rule), 0) + n
    for c in checked:
        if id(c) in recount:
            params = q.Params(run_id=run_id)
            (counts.failing[id(c)],) = conn.execute(q.failing_count(table, _fails(c, params)), params).fetchone()
    return counts


@dataclass(frozen=True)
class _Table:
    blocks: int  # pages of the table when the statement is built
    parallel: bool  # as large as PostgreSQL would scan with parallel workers


def _table_size(conn: psycopg.Connection, table: str) -> _Table:
    blocks, parallel = conn.execute(
        "SELECT size / current_setting('block_size')::bigint, "
        "size >= pg_size_bytes(current_setting('min_parallel_table_scan_size')) "
        "FROM pg_relation_size(to_regclass(%s)) AS size",
        (table_identifier(table).as_string(conn),),
    ).fetchone()
    return _Table(int(blocks or 0), bool(parallel))


def _typed(conn: psycopg.Connection, column: _Column, values: Sequence[str | None]) -> list[Any]:
    """Sample values, sent as text so every branch has one row type, back to the column's Python type."""
    loader = conn.adapters.get_loader(column.type_oid, pq.Format.TEXT)
    if loader is None:
        return list(values)
    load = loader(column.type_oid, conn).load
    return [None if v is None else load(v.encode()) for v in values]


def _which_rule_failed(
    conn: psycopg.Connection,
    table: str,
    run_id: str,
    checked: Sequence[_Checked],
    destination: str | None,
    exc: psycopg.Error,
) -> QualityError:
    """The statement failed: run each rule alone to name the one PostgreSQL refused."""
    for c in checked:
        if not (q.is_row_level(c.rule.check_type) or c.rule.check_type == "UNIQUE"):
            continue
        params = q.Params(run_id=run_id)
        try:
            with conn.transaction(), local_settings(conn, _COUNT_SETTINGS):
                conn.execute(_branch_sql(0, _Branch((c,)), table, params, destination), params)
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
