"""Validators for pipeline metadata: SQL identifiers, globs, paths, cron, rule expressions.

Each validator raises :class:`django.core.exceptions.ValidationError` with a message a
person can act on; models call them from ``clean()`` so admin forms show field errors.
"""

from __future__ import annotations

import ntpath
import posixpath
import re
from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError

import launchpad_rules as rules

MAX_IDENTIFIER_BYTES = 63
_IDENTIFIER_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_IMPORT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def identifier_parts(value: str, *, max_parts: int = 2) -> tuple[str, ...]:
    """Split ``schema.table`` into parts, validating each; return the parts.

    The parts are meant for ``psycopg.sql.Identifier(*parts)`` (quoted part by part).
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Enter a name, for example sales or staging.sales.")
    if value != value.strip():
        raise ValidationError(f"'{value}' has spaces around it; remove them.")
    parts = tuple(value.split("."))
    if len(parts) > max_parts:
        shape = "schema.table" if max_parts == 2 else "a single name without dots"
        raise ValidationError(f"'{value}' has too many dots: use {shape}.")
    for part in parts:
        if not _IDENTIFIER_PART.match(part):
            raise ValidationError(
                f"'{part}' is not a valid SQL name: start with a letter or underscore and use only "
                "letters, digits, underscores or $."
            )
        if len(part.encode()) > MAX_IDENTIFIER_BYTES:
            raise ValidationError(f"'{part}' is longer than PostgreSQL's limit of {MAX_IDENTIFIER_BYTES} bytes.")
    return parts


def validate_table_name(value: str) -> None:
    identifier_parts(value, max_parts=2)


def validate_column_name(value: str) -> None:
    identifier_parts(value, max_parts=1)


def validate_column_list(value: str) -> None:
    """A comma-separated list of column names, e.g. ``sale_id,sale_date``."""
    if not value:
        return
    names = [name.strip() for name in value.split(",")]
    if any(not name for name in names):
        raise ValidationError("Separate column names with single commas, e.g. sale_id,sale_date.")
    for name in names:
        validate_column_name(name)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(f"Column {', '.join(duplicates)} is listed more than once.")


def validate_pipeline_name(value: str) -> None:
    if not _NAME.match(value or ""):
        raise ValidationError(
            f"'{value}' is not a valid pipeline name: start with a letter, then letters, digits or underscores "
            "(it becomes the asset group name in Dagster)."
        )


def validate_import_name(value: str) -> None:
    if not _IMPORT_NAME.match(value or ""):
        raise ValidationError(
            f"'{value}' is not a valid import name: use lower-case letters, digits and underscores, "
            "starting with a letter (for example daily_sales)."
        )


def validate_file_pattern(value: str) -> None:
    """A glob for file names only: no directory part, no traversal."""
    if not value or not value.strip():
        raise ValidationError("Enter a file name pattern, for example sales_*.csv.")
    if "/" in value or "\\" in value:
        raise ValidationError(
            f"'{value}' contains a directory part; the pattern matches file names only. "
            "Put the folder in 'Monitored directory'."
        )
    if value in {".", ".."} or value.startswith(".."):
        raise ValidationError(f"'{value}' is not a file name pattern.")
    if value.count("[") != value.count("]"):
        raise ValidationError(f"'{value}' has an unbalanced [ ] character class.")


def validate_monitored_directory(value: str) -> None:
    if not value:
        return
    if not (posixpath.isabs(value) or ntpath.isabs(value)):
        raise ValidationError(f"'{value}' is not an absolute path; start it at the root, e.g. /data/incoming/sales.")
    parts = re.split(r"[\\/]", value)
    if ".." in parts:
        raise ValidationError(f"'{value}' contains '..'; write the folder's full path without going up.")


def validate_cron(value: str) -> None:
    """Accept exactly the cron strings Dagster accepts (5 fields, no impossible dates)."""
    if not value:
        return
    from croniter import croniter

    message = (
        f"'{value}' is not a cron schedule Dagster accepts: use 5 fields "
        "(minute hour day-of-month month day-of-week), e.g. '0 6 * * 1-5'."
    )
    if not croniter.is_valid(value):
        raise ValidationError(message)
    expanded, *_ = croniter.expand(value)
    if len(expanded) != 5:
        raise ValidationError(message)
    if len(expanded[3]) == 1 and expanded[3][0] == 2 and len(expanded[2]) == 1 and expanded[2][0] in {30, 31}:
        raise ValidationError(f"'{value}' never fires: February has no day {expanded[2][0]}.")


def validate_json_object(value) -> None:
    if value in (None, ""):
        return
    if not isinstance(value, Mapping):
        raise ValidationError('Enter a JSON object, e.g. {"delimiter": ";"} (or leave it empty).')


def parse_positional_mapping(text: str) -> list[list[str]]:
    """``'src_a > col_a, src_b > col_b'`` as ``[["src_a", "col_a"], ["src_b", "col_b"]]``."""
    pairs = []
    for part in text.split(","):
        source, sep, target = part.partition(">")
        if not sep or not source.strip() or not target.strip():
            raise ValidationError(
                f"'{part.strip()}' is not of the form 'file column > table column' "
                "(e.g. 'Sale ID > sale_id, Date > sale_date')."
            )
        pairs.append([source.strip(), target.strip()])
    return pairs


def normalize_column_mapping(value):
    """The stored form: the text form becomes a list of [file column, table column] pairs."""
    return parse_positional_mapping(value) if isinstance(value, str) and value.strip() else value


def validate_column_mapping(value) -> None:
    """By position (names, or 'source > target' pairs) or by name (an object source -> target)."""
    if value in (None, "", [], {}):
        return
    if isinstance(value, str):
        value = parse_positional_mapping(value)
    if isinstance(value, list) and value and all(isinstance(item, list) for item in value):
        if not all(len(item) == 2 and all(isinstance(n, str) and n.strip() for n in item) for item in value):
            raise ValidationError("Each positional pair must be [file column, table column], both non-empty text.")
        targets = [target for _, target in value]
    elif isinstance(value, list):
        targets = value
    elif isinstance(value, Mapping):
        if not all(isinstance(k, str) and k for k in value):
            raise ValidationError("Every source column name in the mapping must be non-empty text.")
        targets = list(value.values())
    else:
        raise ValidationError(
            "Enter 'file column > table column' pairs in file order, e.g. 'Sale ID > sale_id, Date > sale_date'; "
            'a list of column names by position, e.g. ["sale_id", "sale_date"]; '
            'or an object from file column to table column, e.g. {"Sale ID": "sale_id"}.'
        )
    for target in targets:
        if not isinstance(target, str):
            raise ValidationError(f"Mapping target {target!r} must be a column name.")
        try:
            validate_column_name(target)
        except ValidationError as exc:
            raise ValidationError(f"Mapping target: {exc.messages[0]}") from exc
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise ValidationError(f"Mapping sends more than one column to {', '.join(duplicates)}.")


def find_cycle(start: object, edges: Mapping[object, Iterable[object]]) -> list[object] | None:
    """Return a dependency cycle through ``start`` (as a path) or None."""
    path: list[object] = []
    seen: set[object] = set()

    def visit(node: object) -> list[object] | None:
        if node == start and path:
            return [*path, node]
        if node in seen:
            return None
        seen.add(node)
        path.append(node)
        for nxt in edges.get(node, ()):
            found = visit(nxt)
            if found:
                return found
        path.pop()
        return None

    return visit(start)


# ------------------------------------------------------------------ quality rule expressions

CHECKS_WITHOUT_COLUMN = rules.CHECKS_WITHOUT_COLUMN
_RULE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def validate_rule_name(value: str) -> None:
    """Rule names become Dagster asset check names: letters, digits and underscores."""
    if not _RULE_NAME.match(value or ""):
        raise ValidationError(
            f"'{value}' is not a valid rule name: start with a letter, then letters, digits or underscores "
            "(e.g. amount_positive)."
        )


def validate_check_expression(check_type: str, expression: str) -> None:
    """The expression fits its check type (the grammar lives in ``launchpad_rules``, shared with the engine)."""
    try:
        rules.parse_rule(check_type, expression or "")
    except rules.RuleError as exc:
        raise ValidationError(exc.message) from exc


def predicate_columns(expression: str) -> tuple[str, ...]:
    """The columns a CUSTOM_SQL condition reads (empty when it does not parse: the grammar check says why)."""
    try:
        return rules.parse_rule("CUSTOM_SQL", expression or "").columns
    except rules.RuleError:
        return ()
