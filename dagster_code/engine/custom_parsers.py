"""Custom parsers: layouts the standard file types do not cover, each registered by name.

An import uses one with file type "custom" and the registered name as its parser function.
The registry is the whitelist: only functions registered here (or the built-in parsers) ever
run, and nothing is looked up or imported by a name taken from the database.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dagster_code.engine import parsers
from dagster_code.engine.errors import ConfigError, FileFormatError
from dagster_code.engine.parsers import (
    ParsedFile,
    apply_null_values,
    check_count,
    check_encoding,
    check_options,
    null_values_option,
    register_parser,
)
from dagster_code.engine.parsers_text import (
    check_text_file,
    detect_encoding,
    encoding_error,
    gzip_error,
    open_binary,
    text_chunks,
)

# ------------------------------------------------------------------------------ fixed width

_FIXED_WIDTH_OPTIONS = {"columns", "skip_rows", "encoding", "null_values"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LAYOUT_EXAMPLE = '{"columns": [{"name": "id", "start": 1, "width": 5}, {"name": "city", "start": 6, "width": 20}]}'


@dataclass(frozen=True)
class FixedWidthColumn:
    name: str
    start: int  # counted from 1, the first character of the line
    width: int

    @property
    def stop(self) -> int:
        return self.start - 1 + self.width


def fixed_width_layout(columns: Any) -> tuple[FixedWidthColumn, ...]:
    """The checked column layout: named, positive, non-overlapping character ranges."""
    if not isinstance(columns, list) or not columns:
        raise ConfigError(f"'columns' must list the file's columns, e.g. {_LAYOUT_EXAMPLE}.")
    layout = []
    for number, column in enumerate(columns, start=1):
        if not isinstance(column, Mapping) or set(column) != {"name", "start", "width"}:
            raise ConfigError(f"Column {number} of 'columns' must have exactly name, start and width, got {column!r}.")
        name, start, width = column["name"], column["start"], column["width"]
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"Column {number} of 'columns' needs a name.")
        for key, value in (("start", start), ("width", width)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"Column {name}: '{key}' must be a whole number from 1 (start counts from the line's "
                    f"first character, 1), got {value!r}."
                )
        layout.append(FixedWidthColumn(name.strip(), start, width))
    names = [column.name for column in layout]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"'columns' repeats the name(s) {', '.join(repeated)}.")
    ordered = sorted(layout, key=lambda column: column.start)
    for left, right in zip(ordered, ordered[1:], strict=False):
        if right.start <= left.stop:
            raise ConfigError(
                f"Columns {left.name} (characters {left.start}-{left.stop}) and {right.name} "
                f"(from character {right.start}) overlap."
            )
    return tuple(layout)


def _field(lines: pa.Array, column: FixedWidthColumn) -> pa.Array:
    value = pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(lines, column.start - 1, column.stop))
    return pc.if_else(pc.equal(value, ""), pa.scalar(None, pa.string()), value)


def _fixed_width_batches(
    path: Path,
    layout: tuple[FixedWidthColumn, ...],
    compression: str | None,
    encoding: str,
    skip_rows: int,
    null_values: tuple[str, ...],
) -> Iterator[pa.RecordBatch]:
    names = [column.name for column in layout]
    to_skip = skip_rows
    try:
        with open_binary(path, compression) as raw:
            for chunk in text_chunks(raw, encoding, parsers.BLOCK_SIZE):  # read when called: one block size
                lines = _LINE_BREAK.split(chunk)
                if lines[-1] == "":  # the chunk ended with a line break
                    lines.pop()
                skipped, lines = lines[:to_skip], lines[to_skip:]
                to_skip -= len(skipped)
                lines = [line for line in lines if line.strip()]
                if lines:
                    text = pa.array(lines, pa.string())
                    batch = pa.RecordBatch.from_arrays([_field(text, column) for column in layout], names=names)
                    yield apply_null_values(batch, null_values)
    except UnicodeDecodeError as exc:
        raise encoding_error(path, encoding, str(exc)) from exc
    except (EOFError, zlib.error, OSError) as exc:
        if compression is None:
            raise
        raise gzip_error(path, str(exc)) from exc


@register_parser("fixed_width")
def parse_fixed_width(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    """Columns at fixed character positions, as ``columns`` lays them out (``start`` counts from 1).

    Values are trimmed of their padding and an empty value is NULL; blank lines are skipped and
    characters after the last column are ignored. ``skip_rows`` skips lines before the data (a
    title or header line); ``encoding`` defaults to what a byte-order mark says, else UTF-8.
    """
    check_options(options, _FIXED_WIDTH_OPTIONS, "the fixed_width parser")
    if "columns" not in options:
        raise ConfigError(f"The fixed_width parser needs 'columns', e.g. {_LAYOUT_EXAMPLE}.")
    layout = fixed_width_layout(options["columns"])
    skip_rows = check_count("skip_rows", options.get("skip_rows", 0), "lines to skip before the data")
    explicit = check_encoding(options["encoding"]) if "encoding" in options else None
    null_values = null_values_option(options)
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path.name} is empty: expected lines of fixed-width columns.")
    compression = check_text_file(path, "a fixed-width text file")
    try:
        encoding = explicit or detect_encoding(path, compression)
    except (EOFError, zlib.error, OSError) as exc:
        raise gzip_error(path, str(exc)) from exc
    columns = tuple(column.name for column in layout)
    batches = _fixed_width_batches(path, layout, compression, encoding, skip_rows, null_values)
    return ParsedFile(columns=columns, batches=batches)
