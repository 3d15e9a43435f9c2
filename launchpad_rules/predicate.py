"""CUSTOM_SQL: a condition over one row that good rows satisfy, e.g. ``quantity > 0 AND amount >= quantity * 0.5``.

The text is parsed with sqlglot (PostgreSQL dialect) and every node checked against an
allow-list: column names, literals, operators, ``IS [NOT] NULL``, ``IN (values)``,
``BETWEEN``, ``LIKE``/``ILIKE``, ``CASE``, ``CAST`` to plain types and a few scalar
functions. Anything else (subqueries, tables, statements, comments, parameters, other
functions) is refused with a plain message.

The accepted condition is kept as SQL text generated from the checked tree, split around
its columns (:class:`ColumnRef`) and text values (:class:`Value`), so the engine quotes the
columns itself and passes the values as parameters: the raw text never reaches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from launchpad_rules.errors import RuleError

_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_NUMBER = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_MARKER = re.compile(r'"lp_([cv])([0-9]+)_"')
_UNIT_TEXT = re.compile(r"'[A-Z_ ]*'")
_EXAMPLE = "e.g. quantity > 0 AND amount >= quantity * 0.5"

_STRUCTURE = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren,
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Escape, exp.SimilarTo, exp.RegexpLike, exp.RegexpILike,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.Pow, exp.DPipe,
    exp.Case, exp.If, exp.Cast, exp.DataType, exp.DataTypeParam, exp.Interval, exp.Var,
)  # fmt: skip
FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Abs: "abs", exp.Ceil: "ceil", exp.Coalesce: "coalesce", exp.Concat: "concat", exp.CurrentDate: "current_date",
    exp.CurrentTimestamp: "now", exp.DateTrunc: "date_trunc", exp.TimestampTrunc: "date_trunc",
    exp.Extract: "extract", exp.Floor: "floor", exp.Greatest: "greatest", exp.Initcap: "initcap",
    exp.Least: "least", exp.Left: "left", exp.Length: "length", exp.Lower: "lower", exp.Nullif: "nullif",
    exp.Pad: "lpad", exp.Replace: "replace", exp.Right: "right", exp.Round: "round", exp.Sign: "sign",
    exp.SplitPart: "split_part", exp.StrPosition: "position", exp.Substring: "substring", exp.Trim: "trim",
    exp.Trunc: "trunc", exp.Upper: "upper",
}  # fmt: skip
OTHER_FUNCTIONS = frozenset({"octet_length"})  # known to PostgreSQL, parsed by sqlglot as plain calls
ALLOWED_FUNCTION_NAMES = sorted({*FUNCTIONS.values(), *OTHER_FUNCTIONS, "rpad", "substr", "ltrim", "rtrim", "mod"})
_TYPES = {
    exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.DECIMAL,
    exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE, exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR,
    exp.DataType.Type.CHAR, exp.DataType.Type.DATE, exp.DataType.Type.TIME, exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.BOOLEAN, exp.DataType.Type.INTERVAL,
}  # fmt: skip
_UNITS = frozenset(
    f"{unit}{plural}"
    for unit in (
        "MICROSECOND", "MILLISECOND", "SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR",
        "DECADE", "CENTURY", "MILLENNIUM", "DOW", "DOY", "ISODOW", "ISOYEAR", "EPOCH", "JULIAN",
    )
    for plural in ("", "S")
)  # fmt: skip
_STATEMENTS = (
    exp.Query, exp.DDL, exp.DML, exp.Command, exp.Set, exp.Transaction, exp.Commit, exp.Rollback,
    exp.Use, exp.Pragma, exp.Describe, exp.Kill,
)  # fmt: skip


@dataclass(frozen=True)
class ColumnRef:
    """A column the condition reads, by its exact (case-folded unless quoted) name."""

    name: str


@dataclass(frozen=True)
class Value:
    """A text value written in the condition; the engine sends it as a parameter of unknown type."""

    text: str


@dataclass(frozen=True)
class Predicate:
    parts: tuple[str | ColumnRef | Value, ...]
    columns: tuple[str, ...]
    text: str


def parse_predicate(text: str) -> Predicate:
    """Check ``text`` against the allow-list; :class:`RuleError` says what is not allowed."""
    if not text.strip():
        raise RuleError(f"Enter a condition that good rows satisfy, {_EXAMPLE}.")
    tree = _parse(text)
    for node in tree.walk(bfs=False):
        _check_node(node)
    if not _is_condition(tree):
        raise RuleError(f"The condition must be true or false for each row, {_EXAMPLE}.")
    columns = tuple(dict.fromkeys(_column_name(c) for c in tree.find_all(exp.Column, bfs=False)))
    return Predicate(parts=_split(tree), columns=columns, text=tree.sql(dialect="postgres", comments=False))


def _parse(text: str) -> exp.Expression:
    try:
        tokens = sqlglot.tokenize(text, read="postgres")
    except TokenError as exc:
        raise RuleError(f"The condition does not parse: {_first_line(exc)}") from exc
    if any(token.comments for token in tokens):
        raise RuleError("Comments (-- or /* */) are not allowed in a condition.")
    if any(token.token_type == TokenType.SEMICOLON for token in tokens):
        raise RuleError(f"Enter one condition without ';', {_EXAMPLE}.")
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except (ParseError, TokenError) as exc:
        raise RuleError(f"The condition does not parse: {_first_line(exc)}") from exc
    except RecursionError as exc:
        raise RuleError("The condition is nested too deeply.") from exc
    if isinstance(tree, _STATEMENTS) or not isinstance(tree, exp.Condition):
        raise RuleError(f"Enter a condition over one row, not a statement: {_EXAMPLE}.")
    return tree


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _check_node(node: exp.Expression) -> None:
    if isinstance(node, (exp.Query, exp.Subquery, exp.Exists)) or (isinstance(node, exp.In) and node.args.get("query")):
        raise RuleError("Subqueries are not allowed: the condition sees one row of the checked table at a time.")
    if isinstance(node, (exp.Table, exp.Dot)) or (isinstance(node, exp.Column) and node.table):
        raise RuleError("Refer to columns by name alone (write amount, not sales.amount): other tables are not read.")
    if isinstance(node, _STATEMENTS):
        raise RuleError(f"Enter a condition over one row, not a statement: {_EXAMPLE}.")
    if isinstance(node, exp.AggFunc):
        raise RuleError(
            f"Aggregate functions such as {node.sql_name().lower()} are not allowed: a condition is per row."
        )
    if isinstance(node, exp.Window):
        raise RuleError("Window functions (OVER ...) are not allowed: a condition is per row.")
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        raise RuleError("Parameters ($1, %s, :name) are not allowed; write the value itself.")
    if isinstance(node, (exp.ByteString, exp.RawString, exp.National, exp.HexString, exp.BitString)):
        raise RuleError("Write text values in plain single quotes, e.g. 'North'.")
    if isinstance(node, _STRUCTURE):
        _check_structure(node)
    elif isinstance(node, exp.Anonymous):
        if node.name.lower() not in OTHER_FUNCTIONS:
            raise RuleError(_unknown_function(node.name))
    elif type(node) not in FUNCTIONS:
        if isinstance(node, exp.Func):
            raise RuleError(_unknown_function(_function_name(node)))
        raise RuleError(f"'{node.sql(dialect='postgres', comments=False)[:60]}' is not allowed in a condition.")


def _function_name(node: exp.Func) -> str:
    """The name as PostgreSQL spells it (sqlglot's own names differ: rand for random)."""
    found = re.match(r"[A-Za-z_][A-Za-z0-9_]*", node.sql(dialect="postgres", comments=False))
    return found.group(0) if found else node.sql_name()


def _unknown_function(name: str) -> str:
    return f"{name.lower()} is not an allowed function. Allowed: {', '.join(ALLOWED_FUNCTION_NAMES)}."


def _check_structure(node: exp.Expression) -> None:
    if isinstance(node, exp.Identifier) and not isinstance(node.parent, exp.Column):
        raise RuleError(f"'{node.name}' is not allowed here; write column names and values only.")
    if isinstance(node, exp.Column):
        _column_name(node)
    elif isinstance(node, exp.Literal) and not node.is_string and not _NUMBER.match(str(node.this)):
        raise RuleError(f"'{node.this}' is not a number.")
    elif isinstance(node, exp.Var) and not (
        isinstance(node.parent, (exp.Interval, exp.Extract, exp.DateTrunc, exp.TimestampTrunc))
        and node.name.upper() in _UNITS
    ):
        raise RuleError(f"'{node.name}' is not a date part (year, month, day, hour, ...).")
    elif isinstance(node, exp.DataType) and node.this not in _TYPES:
        raise RuleError(f"CAST to {node.sql(dialect='postgres')} is not allowed; cast to a plain type such as numeric.")
    elif isinstance(node, exp.DataTypeParam) and not (isinstance(node.this, exp.Literal) and node.this.is_int):
        raise RuleError("A type's size must be a whole number, e.g. numeric(12, 2).")
    elif isinstance(node, exp.Interval) and not (isinstance(node.this, exp.Literal) and node.this.is_string):
        raise RuleError("Write an interval as interval '3 days'.")
    elif isinstance(node, exp.In) and (
        any(node.args.get(key) for key in ("query", "unnest", "field"))
        or not all(_is_value(item) for item in node.expressions)
    ):
        raise RuleError("IN takes a list of values, e.g. region IN ('North', 'South').")
    elif isinstance(node, exp.Is) and not isinstance(node.expression, (exp.Null, exp.Boolean)):
        raise RuleError("Use IS only with NULL, TRUE or FALSE.")


def _is_value(node: exp.Expression) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, (exp.Literal, exp.Boolean, exp.Null))


def _column_name(column: exp.Column) -> str:
    identifier = column.this
    if not isinstance(identifier, exp.Identifier):
        raise RuleError("Refer to columns by name, e.g. amount.")
    name = identifier.name if identifier.quoted else identifier.name.lower()
    if not _COLUMN_NAME.match(name) or len(name.encode()) > 63:
        raise RuleError(
            f"'{name}' is not a valid column name: start with a letter or underscore and use only "
            "letters, digits, underscores or $."
        )
    return name


def _is_condition(node: exp.Expression) -> bool:
    if isinstance(node, exp.Paren):
        return _is_condition(node.this)
    return isinstance(node, (exp.Predicate, exp.Connector, exp.Not, exp.Boolean, exp.Column, exp.Case, exp.Escape))


def _split(tree: exp.Expression) -> tuple[str | ColumnRef | Value, ...]:
    """SQL generated from the checked tree, cut around its columns and text values."""
    markers: list[ColumnRef | Value] = []

    def interval_as_cast(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Interval):
            text = f"{node.this.name} {node.unit.name if node.unit else ''}".strip()
            return exp.Cast(this=exp.Literal.string(text), to=exp.DataType.build("interval"))
        return node

    def mark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            markers.append(ColumnRef(_column_name(node)))
        elif isinstance(node, exp.Literal) and node.is_string:
            markers.append(Value(node.this))
        else:
            return node
        kind = "c" if isinstance(markers[-1], ColumnRef) else "v"
        return exp.column(f"lp_{kind}{len(markers) - 1}_", quoted=True)

    marked = tree.copy().transform(interval_as_cast).transform(mark)
    pieces = _MARKER.split(marked.sql(dialect="postgres", identify=True, comments=False))
    parts: list[str | ColumnRef | Value] = []
    for position, piece in enumerate(pieces):
        kind = position % 3
        if kind == 0:
            _check_generated(piece)
            if piece:
                parts.append(piece)
        elif kind == 2:
            parts.append(markers[int(piece)])
    return tuple(parts)


def _check_generated(text: str) -> None:
    """Belt and braces: generated text holds no quote, comment or statement break of its own."""
    bare = _UNIT_TEXT.sub("", text)
    if any(mark in bare for mark in (";", "--", "/*", "*/", "$", '"', "'", "\\")):
        raise RuleError("The condition could not be turned into SQL safely; simplify it.")
