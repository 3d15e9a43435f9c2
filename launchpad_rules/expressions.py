"""Parse a quality rule's expression for its check type into one normalised, frozen value.

The same parse runs when a rule is saved (Django turns :class:`RuleError` into a form error)
and again at run time (the engine builds SQL only from the parsed value, never from the
raw text). Values never become SQL text: the engine passes them as parameters.

NULL values: ``NOT_NULL`` fails on NULL; every other check lets NULL pass (as SQL ``CHECK``
constraints do), so combine a check with ``NOT_NULL`` when NULL is also wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from launchpad_rules.errors import RuleError
from launchpad_rules.predicate import ColumnRef, Value, parse_predicate

MAX_EXPRESSION_CHARS = 4000
_WHOLE_NUMBER = re.compile(r"^[0-9]+$")

Literal = str | int | Decimal | bool
Bound = int | Decimal | date | datetime


@dataclass(frozen=True)
class ParsedRule:
    """What one rule checks, normalised. Only the fields of its ``check_type`` are set."""

    check_type: str
    allowed: tuple[Literal, ...] = ()  # IS_IN_SET
    minimum: Bound | None = None  # RANGE
    maximum: Bound | None = None  # RANGE
    pattern: str = ""  # REGEX (PostgreSQL advanced regular expression)
    min_rows: int = 0  # ROW_COUNT_MIN
    against_destination: bool = False  # UNIQUE
    predicate: tuple[str | ColumnRef | Value, ...] = ()  # CUSTOM_SQL: SQL text split around columns and values
    predicate_text: str = ""  # CUSTOM_SQL, normalised for people to read
    columns: tuple[str, ...] = ()  # CUSTOM_SQL: the columns the predicate reads

    @property
    def allowed_text(self) -> tuple[str, ...]:
        """The allowed values as PostgreSQL reads them from text (true/false, 1.5, North)."""
        return tuple(_as_text(v) for v in self.allowed)

    @property
    def bound_kind(self) -> str:
        """``number`` or ``date`` for a RANGE, else empty."""
        bound = self.minimum if self.minimum is not None else self.maximum
        if bound is None:
            return ""
        return "date" if isinstance(bound, date) else "number"

    def describe(self) -> str:
        """The rule's parameters in a few words, e.g. ``min 0, max 100``."""
        if self.check_type == "UNIQUE":
            return "also against the destination" if self.against_destination else ""
        if self.check_type == "IS_IN_SET":
            shown = ", ".join(self.allowed_text[:5]) + (", ..." if len(self.allowed) > 5 else "")
            return f"allowed {shown}"
        if self.check_type == "RANGE":
            parts = [
                f"{name} {_as_text(b)}" for name, b in (("min", self.minimum), ("max", self.maximum)) if b is not None
            ]
            return ", ".join(parts)
        if self.check_type == "REGEX":
            return f"pattern {self.pattern}"
        if self.check_type == "ROW_COUNT_MIN":
            return f"at least {self.min_rows:,} rows"
        if self.check_type == "CUSTOM_SQL":
            return self.predicate_text
        return ""


def _as_text(value: Literal | Bound) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


_PARSERS: dict[str, Callable[[str], ParsedRule]] = {}


def register_check(name: str) -> Callable[[Callable[[str], ParsedRule]], Callable[[str], ParsedRule]]:
    """Register the parser of a check type; the registry is also the list of check types accepted."""

    def decorate(fn: Callable[[str], ParsedRule]) -> Callable[[str], ParsedRule]:
        _PARSERS[name] = fn
        return fn

    return decorate


def parse_rule(check_type: str, expression: str | None) -> ParsedRule:
    """Check ``expression`` for ``check_type`` and return it parsed; :class:`RuleError` if it does not fit."""
    parser = _PARSERS.get(check_type)
    if parser is None:
        raise RuleError(f"Unknown check type '{check_type}'.")
    text = expression or ""
    if not isinstance(text, str):
        raise RuleError("The expression must be text.")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise RuleError(f"The expression is too long (over {MAX_EXPRESSION_CHARS:,} characters).")
    if "\x00" in text:
        raise RuleError("The expression contains a NUL character.")
    return parser(text)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _parse_json(value: str, shape: str):
    try:
        return json.loads(value, parse_float=Decimal, parse_constant=_reject_constant)
    except (TypeError, ValueError) as exc:
        raise RuleError(f"Enter {shape} as JSON ({exc}).") from exc


@register_check("NOT_NULL")
def _not_null(value: str) -> ParsedRule:
    if value.strip():
        raise RuleError("This check takes no expression; leave it empty.")
    return ParsedRule("NOT_NULL")


@register_check("UNIQUE")
def _unique(value: str) -> ParsedRule:
    if not value.strip():
        return ParsedRule("UNIQUE")
    options = _parse_json(value, 'the options, e.g. {"against_destination": true}')
    if not isinstance(options, dict) or set(options) - {"against_destination"}:
        raise RuleError('Leave it empty, or enter {"against_destination": true} to also refuse keys already loaded.')
    flag = options.get("against_destination", False)
    if not isinstance(flag, bool):
        raise RuleError("'against_destination' must be true or false.")
    return ParsedRule("UNIQUE", against_destination=flag)


@register_check("IS_IN_SET")
def _is_in_set(value: str) -> ParsedRule:
    items = _parse_json(value, 'the allowed values as a list, e.g. ["North", "South"]')
    if not isinstance(items, list) or not items:
        raise RuleError('Enter at least one allowed value as a JSON list, e.g. ["North", "South"].')
    if not all(isinstance(i, (str, int, Decimal, bool)) for i in items):
        raise RuleError("Allowed values must be text, numbers or true/false.")
    if any(isinstance(i, str) and "\x00" in i for i in items):
        raise RuleError("Allowed values may not contain a NUL character.")
    unique = {(type(item), item): item for item in items}  # True and 1 are equal in Python, not here
    return ParsedRule("IS_IN_SET", allowed=tuple(unique.values()))


def _bound(key: str, raw: object) -> Bound:
    if isinstance(raw, bool) or not isinstance(raw, (int, Decimal, str)):
        raise RuleError(f"'{key}' must be a number or an ISO date.")
    if not isinstance(raw, str):
        return raw
    try:
        return datetime.fromisoformat(raw) if ("T" in raw or " " in raw.strip()) else date.fromisoformat(raw)
    except ValueError as exc:
        raise RuleError(f"'{key}' must be a number or an ISO date such as 2024-01-31 ('{raw}' is neither).") from exc


def _comparable(bound: Bound) -> Bound:
    return datetime.combine(bound, time()) if type(bound) is date else bound


@register_check("RANGE")
def _range(value: str) -> ParsedRule:
    bounds = _parse_json(value, 'the bounds, e.g. {"min": 0, "max": 100}')
    if not isinstance(bounds, dict) or not bounds or set(bounds) - {"min", "max"}:
        raise RuleError('Enter {"min": ..., "max": ...} (either bound may be left out).')
    parsed = {key: _bound(key, raw) for key, raw in bounds.items()}
    if len({isinstance(b, date) for b in parsed.values()}) > 1:
        raise RuleError("'min' and 'max' must both be numbers or both be dates.")
    low, high = parsed.get("min"), parsed.get("max")
    if low is not None and high is not None and _comparable(low) > _comparable(high):
        raise RuleError("'min' is greater than 'max'.")
    return ParsedRule("RANGE", minimum=parsed.get("min"), maximum=parsed.get("max"))


@register_check("REGEX")
def _regex(value: str) -> ParsedRule:
    if not value:
        raise RuleError("Enter a regular expression, e.g. ^[A-Z]{3}-\\d+$.")
    if "(?P" in value:
        raise RuleError("Named groups (?P<name>...) are Python-only; PostgreSQL patterns do not have them.")
    try:
        re.compile(value)
    except re.error as exc:
        raise RuleError(f"Not a valid regular expression: {exc}.") from exc
    return ParsedRule("REGEX", pattern=value)


@register_check("ROW_COUNT_MIN")
def _row_count_min(value: str) -> ParsedRule:
    if not _WHOLE_NUMBER.match(value.strip()):
        raise RuleError("Enter the minimum number of rows as a whole number, e.g. 1.")
    return ParsedRule("ROW_COUNT_MIN", min_rows=int(value.strip()))


@register_check("CUSTOM_SQL")
def _custom_sql(value: str) -> ParsedRule:
    predicate = parse_predicate(value)
    return ParsedRule("CUSTOM_SQL", predicate=predicate.parts, predicate_text=predicate.text, columns=predicate.columns)


CHECK_TYPES = tuple(_PARSERS)
CHECKS_WITHOUT_COLUMN = frozenset({"ROW_COUNT_MIN", "CUSTOM_SQL"})
