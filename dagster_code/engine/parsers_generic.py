"""The generic configurable parser: a delimited file described entirely by the import's settings.

``scraper_config`` is ``{"read_options": {...}, "pre_processing": {...}}``. Values stay text, as
with every parser; ``dtype`` only marks which columns hold numbers, so that ``decimal`` and
``thousands`` can normalise them ("1.234,56" -> "1234.56") while text columns are left exactly
as written ("00123" stays "00123").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dagster_code.engine.errors import ConfigError, FileFormatError
from dagster_code.engine.parsers import (
    DelimitedFormat,
    LineFilter,
    ParsedFile,
    check_count,
    check_encoding,
    check_single_char,
    null_values_option,
    register_parser,
    stream_delimited,
)

NAME = "generic_configurable_parser"
_SECTIONS = {"read_options", "pre_processing"}
_READ_OPTIONS = {"skiprows", "delimiter", "encoding", "quotechar", "decimal", "thousands", "dtype", "null_values"}
_PRE_PROCESSING = {"skip_header_until_string", "skip_footer_until_string"}
# Column types 'dtype' may name; the loader leaves typing to PostgreSQL, numbers are only normalised.
DTYPES = ("text", "integer", "numeric", "float", "date", "timestamp", "boolean")
_NUMBER_DTYPES = {"integer", "numeric", "float"}
_ENCODING_HINT = 'Set the file\'s encoding under "read_options", e.g. {"read_options": {"encoding": "latin-1"}}.'


@dataclass(frozen=True)
class GenericConfig:
    """A generic import's settings, checked."""

    delimited: DelimitedFormat
    dtype: Mapping[str, str]
    decimal: str = "."
    thousands: str | None = None

    @property
    def number_columns(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.dtype.items() if kind in _NUMBER_DTYPES)


def _section(options: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
    section = options.get(key, {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"'{key}' must be a JSON object, got {section!r}.")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {', '.join(f'{key}.{name}' for name in unknown)} for the {NAME}; "
            f"allowed in {key}: {', '.join(sorted(allowed))}."
        )
    return section


def _marker(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    if value is not None and (not isinstance(value, str) or not value or "\n" in value or "\r" in value):
        raise ConfigError(f"'pre_processing.{key}' must be a non-empty text on one line, got {value!r}.")
    return value


def _dtype(read: Mapping[str, Any]) -> dict[str, str]:
    dtype = read.get("dtype", {})
    if not isinstance(dtype, Mapping) or not all(isinstance(name, str) for name in dtype):
        raise ConfigError('\'read_options.dtype\' must map column names to types, e.g. {"amount": "numeric"}.')
    wrong = {name: kind for name, kind in dtype.items() if kind not in DTYPES}
    if wrong:
        name, kind = next(iter(wrong.items()))
        raise ConfigError(f"'read_options.dtype' gives column {name} the type {kind!r}; allowed: {', '.join(DTYPES)}.")
    return dict(dtype)


def _check_dtype_columns(dtype: Mapping[str, str], path: Path, columns: tuple[str, ...]) -> None:
    missing = [name for name in dtype if name not in columns]
    if missing:
        raise ConfigError(
            f"{path.name}: 'read_options.dtype' names column(s) {', '.join(missing)} that the file does not have "
            f"(its columns: {', '.join(columns)})."
        )


def generic_config(options: Mapping[str, Any]) -> GenericConfig:
    """Check a generic import's ``scraper_config``: every key known, every value usable."""
    unknown = sorted(set(options) - _SECTIONS)
    if unknown:
        misplaced = [name for name in unknown if name in _READ_OPTIONS | _PRE_PROCESSING]
        where = f' ({", ".join(misplaced)} belong(s) under "read_options" or "pre_processing")' if misplaced else ""
        raise ConfigError(
            f"Unknown option(s) {', '.join(unknown)} for the {NAME}{where}; allowed: {', '.join(sorted(_SECTIONS))}."
        )
    read = _section(options, "read_options", _READ_OPTIONS)
    pre = _section(options, "pre_processing", _PRE_PROCESSING)
    dtype = _dtype(read)
    decimal = check_single_char("read_options.decimal", read.get("decimal", "."))
    thousands = read.get("thousands")
    if thousands is not None:
        check_single_char("read_options.thousands", thousands)
        if thousands == decimal:
            raise ConfigError("'read_options.thousands' and 'read_options.decimal' must be different characters.")
    config = GenericConfig(
        delimited=DelimitedFormat(
            delimiter=check_single_char("read_options.delimiter", read.get("delimiter", ",")),
            quote_char=check_single_char("read_options.quotechar", read.get("quotechar", '"')),
            encoding=check_encoding(read["encoding"]) if "encoding" in read else None,
            skip_rows=check_count("read_options.skiprows", read.get("skiprows", 0), "lines to skip before the header"),
            null_values=null_values_option(read, prefix="read_options."),
            lines=_between_markers(_marker(pre, "skip_header_until_string"), _marker(pre, "skip_footer_until_string")),
            check_header=partial(_check_dtype_columns, dtype) if dtype else None,
            describes="a delimited text file",
            encoding_hint=_ENCODING_HINT,
        ),
        dtype=dtype,
        decimal=decimal,
        thousands=thousands,
    )
    if (decimal != "." or thousands) and not config.number_columns:
        raise ConfigError(
            "'read_options.decimal' and 'read_options.thousands' only change the columns 'dtype' marks as "
            'integer, numeric or float; mark the number columns, e.g. {"dtype": {"amount": "numeric"}}.'
        )
    return config


# ----------------------------------------------------------------------------- pre-processing


def _line_start(text: str, at: int) -> int:
    return max(text.rfind("\n", 0, at), text.rfind("\r", 0, at)) + 1


def _line_end(text: str, at: int) -> int:
    ends = [end for end in (text.find("\n", at), text.find("\r", at)) if end >= 0]
    return min(ends) + 1 if ends else len(text)


def _window(header: str | None, footer: str | None, path: Path, chunks: Iterator[str]) -> Iterator[str]:
    """The text from the line holding ``header`` up to (not including) the first later line holding ``footer``."""
    before_header = header is not None
    for chunk in chunks:  # chunks end at line ends, so a one-line marker never spans two of them
        start = footer_from = 0
        if header is not None and before_header:
            at = chunk.find(header)
            if at < 0:
                continue
            before_header = False
            start, footer_from = _line_start(chunk, at), _line_end(chunk, at)
        at = chunk.find(footer, footer_from) if footer is not None else -1
        if at >= 0:
            yield chunk[start : _line_start(chunk, at)]
            return
        yield chunk[start:]
    if before_header:
        raise FileFormatError(
            f"{path.name}: no line contains {header!r}, which marks the header line "
            "(pre_processing.skip_header_until_string).",
            hint="Check the text in 'skip_header_until_string' against the file's header line (it is case-sensitive).",
        )


def _between_markers(header: str | None, footer: str | None) -> LineFilter | None:
    if header is None and footer is None:
        return None
    return partial(_window, header, footer)


# ------------------------------------------------------------------------------------ numbers


def _numbers(column: pa.Array, decimal: str, thousands: str | None) -> pa.Array:
    """Number text written with local separators, rewritten with none and a '.' decimal point."""
    if thousands:
        column = pc.replace_substring(column, thousands, "")
    if decimal != ".":
        column = pc.replace_substring(column, decimal, ".")
    return column


def _normalised(batches: Iterator[pa.RecordBatch], config: GenericConfig) -> Iterator[pa.RecordBatch]:
    numbers = set(config.number_columns)
    try:
        for batch in batches:
            arrays = [
                _numbers(column, config.decimal, config.thousands) if name in numbers else column
                for name, column in zip(batch.schema.names, batch.columns, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
    finally:
        close = getattr(batches, "close", None)
        if close:
            close()


@register_parser(NAME)
def parse_generic(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    """A delimited file read as its ``read_options`` and ``pre_processing`` say; streamed like csv."""
    config = generic_config(options)
    parsed = stream_delimited(path, config.delimited)
    if config.decimal == "." and not config.thousands:
        return parsed
    return ParsedFile(columns=parsed.columns, batches=_normalised(parsed.batches, config))
