"""The SQL of quality rules, composed with ``psycopg.sql`` from parsed rules only.

Identifiers go through ``sql.Identifier``; every value (allowed values, bounds, patterns, text in a
CUSTOM_SQL condition) is a named parameter. ``%(run_id)s`` selects the run's rows everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from psycopg import sql

from dagster_code.engine.identifiers import column_identifier, table_identifier
from dagster_code.engine.mapping import RUN_ID_COLUMN
from launchpad_rules import ColumnRef, ParsedRule, Value

SAMPLE_SIZE = 5


class Params(dict):
    """Named parameters of one statement; ``add`` returns the placeholder of a new value."""

    def add(self, value: object) -> sql.Placeholder:
        name = f"p{len(self)}"
        self[name] = value
        return sql.Placeholder(name)


Blocks = tuple[int, int | None]


def run_rows(table: str, blocks: Blocks | None = None) -> sql.Composable:
    """``FROM <table> WHERE dagster_run_id = %(run_id)s``, and with ``blocks``, only the rows in those blocks."""
    return sql.SQL("FROM {} WHERE {}").format(table_identifier(table), run_condition(blocks))


def run_condition(blocks: Blocks | None = None, alias: str | None = None) -> sql.Composable:
    """The run's rows (of the table named ``alias``); ``blocks`` = (first, end): in those blocks only.

    ``end`` None: to the last block. PostgreSQL reads a block range with a TID range scan, through the
    shared buffers, where a sequential scan of a large table reads through a small ring of its own:
    so ``(0, None)`` reads the whole table where every other scan of the same statement finds its pages.
    """

    def column(name: str) -> sql.Composable:
        return sql.Identifier(alias, name) if alias else sql.Identifier(name)

    condition = sql.SQL("{} = %(run_id)s").format(column(RUN_ID_COLUMN))
    if blocks is not None:
        first, end = blocks
        condition += sql.SQL(" AND {} >= {}::tid").format(column("ctid"), sql.Literal(f"({first},0)"))
        if end is not None:
            condition += sql.SQL(" AND {} < {}::tid").format(column("ctid"), sql.Literal(f"({end},0)"))
    return condition


# ------------------------------------------------------------------ conditions a failing row meets

Condition = Callable[[sql.Composable, ParsedRule, Params], sql.Composable]
_CONDITIONS: dict[str, Condition] = {}


def register_condition(check_type: str) -> Callable[[Condition], Condition]:
    """Register the SQL condition a row failing ``check_type`` meets (row-level checks only)."""

    def decorate(fn: Condition) -> Condition:
        _CONDITIONS[check_type] = fn
        return fn

    return decorate


def is_row_level(check_type: str) -> bool:
    return check_type in _CONDITIONS


def fail_condition(check_type: str, column: str, parsed: ParsedRule, params: Params) -> sql.Composable:
    target = column_identifier(column) if column else sql.SQL("NULL")
    return _CONDITIONS[check_type](target, parsed, params)


@register_condition("NOT_NULL")
def _fails_not_null(column: sql.Composable, parsed: ParsedRule, params: Params) -> sql.Composable:
    return sql.SQL("{} IS NULL").format(column)


@register_condition("IS_IN_SET")
def _fails_in_set(column: sql.Composable, parsed: ParsedRule, params: Params) -> sql.Composable:
    # text parameters have PostgreSQL's "unknown" type, so they read as the column's type, as literals do
    values = sql.SQL(", ").join(params.add(text) for text in parsed.allowed_text)
    return sql.SQL("{} NOT IN ({})").format(column, values)


@register_condition("RANGE")
def _fails_range(column: sql.Composable, parsed: ParsedRule, params: Params) -> sql.Composable:
    tests = [
        sql.SQL("{} {} {}").format(column, sql.SQL(op), params.add(_bound(bound)))
        for op, bound in (("<", parsed.minimum), (">", parsed.maximum))
        if bound is not None
    ]
    return sql.SQL("({})").format(sql.SQL(" OR ").join(tests))


@register_condition("REGEX")
def _fails_regex(column: sql.Composable, parsed: ParsedRule, params: Params) -> sql.Composable:
    return sql.SQL("NOT ({}::text ~ {})").format(column, params.add(parsed.pattern))


@register_condition("CUSTOM_SQL")
def _fails_custom(column: sql.Composable, parsed: ParsedRule, params: Params) -> sql.Composable:
    return sql.SQL("({}) IS FALSE").format(predicate_sql(parsed, params))


def predicate_sql(parsed: ParsedRule, params: Params) -> sql.Composable:
    """A CUSTOM_SQL condition from its parsed parts: generated SQL, quoted columns, values as parameters."""
    parts: list[sql.Composable] = []
    for part in parsed.predicate:
        if isinstance(part, ColumnRef):
            parts.append(column_identifier(part.name))
        elif isinstance(part, Value):
            parts.append(params.add(part.text))
        else:
            parts.append(sql.SQL(part.replace("%", "%%")))
    return sql.Composed(parts)


def _bound(bound: object) -> object:
    return Decimal(bound) if isinstance(bound, float) else bound


# ------------------------------------------------------------------ statements


# Every branch of the rules' statement returns one row of this shape:
# (part, numbers bigint[], sample values text[], their row counts bigint[], whether the destination holds them)


def union_all(branches: Sequence[sql.Composable]) -> sql.Composable:
    return sql.SQL(" UNION ALL ").join(sql.SQL("({})").format(b) for b in branches)


@dataclass(frozen=True)
class GoodLines:
    """A REGEX rule counted over the rows' values joined into lines (see :mod:`dagster_code.engine.regex_lines`).

    ``value``: the checked text column; ``runs``: the placeholder of the good-lines pattern.
    """

    value: sql.Composable
    runs: sql.Placeholder


def good_lines_count(c: GoodLines) -> sql.Composable:
    """Failing rows of a :class:`GoodLines` rule in one aggregate over the rows; -1: count them row by row.

    The values are joined with newlines; a value not stored in the scanned pages as it is (compressed
    or moved out of line) is joined as a newline of its own, so the text stays no larger than the
    pages read. Runs of good lines are removed in one search and the lines left are the failing rows,
    unless the text holds more lines than there are values: some value holds a newline (or was left
    out), and the rule must then be matched row by row.
    """
    joined = sql.SQL(
        "string_agg(CASE WHEN pg_column_size({v}) <= octet_length({v}) THEN E'\\n' ELSE {v} END, E'\\n')"
    ).format(v=c.value)
    return sql.SQL(
        "CASE WHEN count({v}) = 0 THEN 0 "
        "WHEN octet_length({joined}) + 1 - octet_length(replace({joined}, E'\\n', '')) <> count({v}) THEN -1 "
        "ELSE greatest(cardinality(string_to_array(regexp_replace({joined} || E'\\n', {runs}, '', 'g'), "
        "E'\\n')) - 1, 0) END"
    ).format(v=c.value, joined=joined, runs=c.runs)


def counts_branch(
    part: int, table: str, conditions: Sequence[sql.Composable | GoodLines], *, blocks: Blocks | None = None
) -> sql.Composable:
    """One scan: numbers = ``count(*)`` of the run's rows, then per condition ``count(*) FILTER (WHERE c)``
    (for a :class:`GoodLines` rule, :func:`good_lines_count`).

    ``blocks``: only the rows in those blocks of the table (see :func:`run_condition`).
    """
    counts = [sql.SQL("count(*)")] + [
        good_lines_count(c) if isinstance(c, GoodLines) else sql.SQL("count(*) FILTER (WHERE {})").format(c)
        for c in conditions
    ]
    rows = run_rows(table, blocks)
    return sql.SQL(
        "SELECT {part}::integer, ARRAY[{counts}]::bigint[], NULL::text[], NULL::bigint[], NULL::boolean[] {rows}"
    ).format(part=sql.Literal(part), counts=sql.SQL(", ").join(counts), rows=rows)


def unique_branch(
    part: int, table: str, column: str, *, hashed: bool, destination: str | None, blocks: Blocks | None = None
) -> sql.Composable:
    """:func:`unique_query` as a branch: numbers = failing, repeated rows, repeated values, rows already known."""
    query = unique_query(table, column, hashed=hashed, destination=destination, blocks=blocks)
    return sql.SQL(
        "SELECT {part}::integer, ARRAY[u.failing, u.repeated, u.vals, u.known]::bigint[], u.keys::text[], "
        "u.counts::bigint[], u.flags FROM ({query}) AS u(failing, repeated, vals, known, keys, counts, flags)"
    ).format(part=sql.Literal(part), query=query)


def failing_count(table: str, condition: sql.Composable) -> sql.Composable:
    """The run's rows meeting ``condition``, counted row by row."""
    return sql.SQL("SELECT count(*) FILTER (WHERE {}) {}").format(condition, run_rows(table))


def sample_query(table: str, keys: Sequence[str], condition: sql.Composable) -> sql.Composable:
    return sql.SQL("SELECT {keys} {rows} AND {fails} LIMIT {size}").format(
        keys=sql.SQL(", ").join(column_identifier(k) for k in keys),
        rows=run_rows(table),
        fails=condition,
        size=sql.Literal(SAMPLE_SIZE),
    )


def unique_query(
    table: str, column: str, *, hashed: bool, destination: str | None, blocks: Blocks | None = None
) -> sql.Composable:
    """Values repeated among the run's rows (and, with ``destination``, values it already holds): one scan.

    Returns one row: failing rows, rows in repeated values, repeated values, rows already in the
    destination, then the first 5 failing values (in order) with their row counts and whether known.
    Without ``destination`` one grouping does it (:func:`_repeated_query`). With it, a window count per
    value keeps only the rows of repeated (or known) values, which are then grouped exactly.
    ``hashed`` (text columns): the window partitions by a 64-bit hash of the value, which sorts
    several times faster than text under a collation other than "C"; the hash follows the column's
    collation, so values equal under it still meet, and the exact grouping drops hash collisions.
    ``blocks``: the run's rows in those blocks only (see :func:`run_condition`).
    """
    col = column_identifier(column)
    key = sql.SQL("hashtextextended({}, 0)").format(col) if hashed else col
    parts = {
        "col": col,
        "key": key,
        "t_key": sql.SQL("hashtextextended(t.{}, 0)" if hashed else "t.{}").format(col),
        "rows": run_rows(table, blocks),
        "table": table_identifier(table),
        "t_rows": run_condition(blocks, "t"),
    }
    if not destination:
        return _repeated_query(parts, hashed)
    parts["dest"] = table_identifier(destination)
    candidates = sql.SQL(
        "w AS (SELECT {col} AS k, {key} AS h, count(*) OVER (PARTITION BY {key}) AS hn {rows} "
        "AND {col} IS NOT NULL), c AS (SELECT w.k FROM w LEFT JOIN "
        "(SELECT DISTINCT {key} AS h FROM {dest} WHERE {col} IS NOT NULL) d "
        "ON d.h = w.h WHERE w.hn > 1 OR d.h IS NOT NULL), "
    ).format(**parts)
    known = sql.SQL(
        "SELECT g.k, g.n, d.k IS NOT NULL AS known FROM g LEFT JOIN (SELECT DISTINCT {col} AS k FROM {dest} "
        "WHERE {col} IS NOT NULL AND {key} IN (SELECT {key_k} FROM g)) d ON d.k = g.k "
        "WHERE g.n > 1 OR d.k IS NOT NULL"
    ).format(key_k=sql.SQL("hashtextextended(k, 0)") if hashed else sql.SQL("k"), **parts)
    return sql.SQL(
        "WITH {candidates}g AS (SELECT k, count(*) AS n FROM c GROUP BY k) "
        "SELECT coalesce(sum(n), 0), coalesce(sum(n) FILTER (WHERE n > 1), 0), "
        "count(*) FILTER (WHERE n > 1), coalesce(sum(n) FILTER (WHERE known), 0), "
        "(array_agg(k ORDER BY k))[1:{size}], (array_agg(n ORDER BY k))[1:{size}], "
        "(array_agg(known ORDER BY k))[1:{size}] FROM ({known}) f"
    ).format(candidates=candidates, known=known, size=sql.Literal(SAMPLE_SIZE))


def _repeated_query(parts: dict[str, sql.Composable], hashed: bool) -> sql.Composable:
    """``unique_query`` without a destination: one grouping of the run's rows, same result row.

    ``hashed``: the rows are first grouped by the value's 64-bit hash alone (sorting integers, not
    text); only the rows whose hash repeats are then grouped by the value itself, which drops collisions.
    The repeated hashes pass through one array, so the second scan joins a hash table sized for an
    array's few elements (not for the planner's guess at the grouping: it stays in the CPU's cache),
    and that scan stops at its first row when no hash repeats.
    """
    grouped = sql.SQL(
        "SELECT {col} AS k, count(*) AS n {rows} AND {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1"
    )
    if hashed:
        grouped = sql.SQL(
            "SELECT t.{col} AS k, count(*) AS n FROM {table} AS t JOIN (SELECT unnest(array_agg(h)) AS h "
            "FROM (SELECT {key} AS h {rows} AND {col} IS NOT NULL GROUP BY 1 HAVING count(*) > 1) AS r) AS m "
            "ON {t_key} = m.h WHERE {t_rows} AND t.{col} IS NOT NULL GROUP BY t.{col} HAVING count(*) > 1"
        )
    return sql.SQL(
        "SELECT coalesce(sum(n), 0), coalesce(sum(n), 0), count(*), 0, "
        "(array_agg(k ORDER BY k))[1:{size}], (array_agg(n ORDER BY k))[1:{size}], "
        "(array_agg(false ORDER BY k))[1:{size}] FROM ({grouped}) g"
    ).format(size=sql.Literal(SAMPLE_SIZE), grouped=grouped.format(**parts))
