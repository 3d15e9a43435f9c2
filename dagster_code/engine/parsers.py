"""File parsers, registered by name. The registry is also the whitelist: nothing else runs.

A parser takes a path and options (the import's ``scraper_config``) and returns a
:class:`ParsedFile`: the column names and a stream of Arrow record batches, so large files
are read in bounded memory.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from dagster_code.engine.errors import ConfigError, FileFormatError

# Bytes per Arrow read block. The reader keeps a few dozen blocks in flight, so peak memory
# is bounded by about 32 x BLOCK_SIZE whatever the file size (bench/bench_loader.py).
BLOCK_SIZE = 1 << 20


@dataclass(frozen=True)
class ParsedFile:
    columns: tuple[str, ...]
    batches: Iterator[pa.RecordBatch]


Parser = Callable[[Path, Mapping[str, Any]], ParsedFile]
_REGISTRY: dict[str, Parser] = {}


def register_parser(name: str) -> Callable[[Parser], Parser]:
    def decorate(fn: Parser) -> Parser:
        if name in _REGISTRY:
            raise ValueError(f"parser {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return decorate


def registered_parsers() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def get_parser(file_type: str, parser_function: str | None = None) -> Parser:
    """The parser for an import: the named custom parser, else the one for its file type."""
    name = parser_function if file_type == "custom" else file_type
    try:
        return _REGISTRY[name or ""]
    except KeyError:
        known = ", ".join(registered_parsers())
        raise ConfigError(f"No parser is registered for '{name}'. Registered parsers: {known}.") from None


# ---------------------------------------------------------------------------------- CSV family

_CSV_OPTIONS = {"delimiter", "quote_char", "encoding", "skip_rows"}


def _csv_options(options: Mapping[str, Any], default_delimiter: str) -> dict[str, Any]:
    unknown = set(options) - _CSV_OPTIONS
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {', '.join(sorted(unknown))} for a delimited file; "
            f"allowed: {', '.join(sorted(_CSV_OPTIONS))}."
        )
    delimiter = options.get("delimiter", default_delimiter)
    quote_char = options.get("quote_char", '"')
    for key, value in (("delimiter", delimiter), ("quote_char", quote_char)):
        if not isinstance(value, str) or len(value) != 1:
            raise ConfigError(f"'{key}' must be a single character, got {value!r}.")
    encoding = options.get("encoding", "utf-8")
    try:
        "".encode(encoding)
    except (LookupError, TypeError):
        raise ConfigError(f"'{encoding}' is not a known text encoding.") from None
    skip_rows = options.get("skip_rows", 0)
    if not isinstance(skip_rows, int) or skip_rows < 0:
        raise ConfigError("'skip_rows' must be a whole number of lines to skip before the header.")
    return {"delimiter": delimiter, "quote_char": quote_char, "encoding": encoding, "skip_rows": skip_rows}


def _read_header(path: Path, opts: Mapping[str, Any]) -> tuple[list[str], bool]:
    """The header's column names, and whether any line follows the header."""
    encoding = "utf-8-sig" if opts["encoding"].replace("_", "-").lower() in {"utf-8", "utf8"} else opts["encoding"]
    try:
        with open(path, encoding=encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=opts["delimiter"], quotechar=opts["quote_char"])
            for _ in range(opts["skip_rows"]):
                next(reader, None)
            header = next(reader, None)
            try:
                has_rows = next(reader, None) is not None
            except csv.Error:  # a data row is there; Arrow reports what is wrong with it
                has_rows = True
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{path.name}: the file is not valid {opts['encoding']} text.",
            detail=str(exc),
            hint='Set the file\'s encoding in the import options, e.g. {"encoding": "latin-1"}.',
        ) from exc
    if not header or all(not name.strip() for name in header):
        raise FileFormatError(f"{path.name} is empty: expected a header row with column names.")
    names = [name.strip() for name in header]
    blanks = [str(i + 1) for i, name in enumerate(names) if not name]
    if blanks:
        raise FileFormatError(f"{path.name}: header column(s) {', '.join(blanks)} have no name.")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileFormatError(f"{path.name}: the header repeats column(s) {', '.join(duplicates)}.")
    return names, has_rows


def _format_error(path: Path, exc: pa.ArrowInvalid, opts: Mapping[str, Any]) -> FileFormatError:
    """Arrow's complaint about the file, as a user-facing error (with a hint for a wrong encoding)."""
    text = str(exc)
    if "UTF8" in text or "utf8" in text.lower():
        return FileFormatError(
            f"{path.name}: the file is not valid {opts['encoding']} text.",
            detail=text,
            hint='Set the file\'s encoding in the import options, e.g. {"encoding": "latin-1"}.',
        )
    return FileFormatError(f"{path.name}: {text.removeprefix('CSV parse error: ')}", detail=text)


def _arrow_batches(path: Path, reader: pacsv.CSVStreamingReader, opts: Mapping[str, Any]) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        raise _format_error(path, exc, opts) from exc
    finally:
        reader.close()


def read_delimited(path: Path, options: Mapping[str, Any], default_delimiter: str) -> ParsedFile:
    """Stream a delimited text file as string columns; empty fields become NULL."""
    opts = _csv_options(options, default_delimiter)
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path.name} is empty: expected a header row with column names.")
    names, has_rows = _read_header(path, opts)
    if not has_rows:  # Arrow cannot skip a header that has no line ending after it
        return ParsedFile(columns=tuple(names), batches=iter(()))
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=opts["skip_rows"] + 1, block_size=BLOCK_SIZE, encoding=opts["encoding"]
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=opts["delimiter"], quote_char=opts["quote_char"], newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:  # open_csv already reads the first block
        raise _format_error(path, exc, opts) from exc
    return ParsedFile(columns=tuple(names), batches=_arrow_batches(path, reader, opts))


@register_parser("csv")
def parse_csv(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    return read_delimited(path, options, ",")


@register_parser("tsv")
def parse_tsv(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    return read_delimited(path, options, "\t")


@register_parser("psv")
def parse_psv(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    return read_delimited(path, options, "|")


from dagster_code.engine import parsers_structured  # noqa: E402,F401  (registers excel, json, jsonl, parquet)
