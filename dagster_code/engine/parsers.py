"""File parsers, registered by name. The registry is also the whitelist: nothing else runs.

A parser takes a path and options (the import's ``scraper_config``) and returns a
:class:`ParsedFile`: the column names and a stream of Arrow record batches of text, so large
files are read in bounded memory. This module holds the registry, the options every parser
shares (NULL markers and their checks) and the delimited parsers (csv, tsv, psv) with the reader
the generic parser builds on; the text-file plumbing they read through is in ``parsers_text``.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dagster_code.engine.errors import ConfigError, FileFormatError
from dagster_code.engine.parsers_text import (
    ENCODING_HINT,
    EncodedChunks,
    check_text_file,
    detect_encoding,
    encoding_error,
    gzip_error,
    open_binary,
    python_codec,
    text_chunks,
)
from dagster_code.engine.parsers_text import sniff_kind as sniff_kind  # re-exported: what a file holds

# Bytes per Arrow read block. The reader keeps a few dozen blocks in flight, so peak memory
# is bounded by about 32 x BLOCK_SIZE whatever the file size (bench/load_bench.py).
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
    known = ", ".join(registered_parsers())
    if file_type == "custom" and not parser_function:
        raise ConfigError(
            f"The import's file type is custom but it names no parser function. Registered parsers: {known}."
        )
    name = parser_function if file_type == "custom" else file_type
    try:
        return _REGISTRY[name or ""]
    except KeyError:
        raise ConfigError(f"No parser is registered for '{name}'. Registered parsers: {known}.") from None


# ------------------------------------------------------------------------------ shared options


def check_options(options: Mapping[str, Any], allowed: set[str], kind: str) -> None:
    unknown = set(options) - allowed
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {', '.join(sorted(unknown))} for {kind}; "
            f"allowed: {', '.join(sorted(allowed)) or 'none'}."
        )


def null_values_option(options: Mapping[str, Any], prefix: str = "") -> tuple[str, ...]:
    """The texts an import wants loaded as NULL (besides what each parser already treats as NULL)."""
    values = options.get("null_values", [])
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise ConfigError(
            f'\'{prefix}null_values\' must be a list of texts to load as NULL, e.g. ["NA", "n/a"], got {values!r}.'
        )
    return tuple(values)


def apply_null_values(batch: pa.RecordBatch, null_values: tuple[str, ...]) -> pa.RecordBatch:
    """``batch`` with every value exactly equal to one of ``null_values`` made NULL."""
    if not null_values or batch.num_rows == 0:
        return batch
    marks = pa.array(null_values, pa.string())
    null = pa.scalar(None, pa.string())
    arrays = [pc.if_else(pc.is_in(column, value_set=marks), null, column) for column in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def check_single_char(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) != 1:
        raise ConfigError(f"'{key}' must be a single character, got {value!r}.")
    return value


def check_encoding(value: Any) -> str:
    try:
        "".encode(value)
    except (LookupError, TypeError):
        raise ConfigError(f"'{value}' is not a known text encoding.") from None
    return value


def check_count(key: str, value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"'{key}' must be a whole number of {what}.")
    return value


# ---------------------------------------------------------------------------------- CSV family

# Narrows a file's decoded text chunks (e.g. to the lines between two markers); may raise FileFormatError.
LineFilter = Callable[[Path, Iterator[str]], Iterator[str]]
HeaderCheck = Callable[[Path, tuple[str, ...]], None]


@dataclass(frozen=True)
class DelimitedFormat:
    """How a delimited text file is laid out, built from an import's options."""

    delimiter: str = ","
    quote_char: str = '"'
    encoding: str | None = None  # None: what a byte-order mark says, else UTF-8
    skip_rows: int = 0
    null_values: tuple[str, ...] = ()  # besides the empty field, which is always NULL
    lines: LineFilter | None = None
    check_header: HeaderCheck | None = None
    describes: str = "a CSV file"
    encoding_hint: str = ENCODING_HINT


_CSV_OPTIONS = {"delimiter", "quote_char", "encoding", "skip_rows", "null_values"}
_DESCRIBES = {",": "a CSV file", "\t": "a TSV file", "|": "a PSV file"}


def _csv_format(options: Mapping[str, Any], default_delimiter: str) -> DelimitedFormat:
    check_options(options, _CSV_OPTIONS, "a delimited file")
    delimiter = check_single_char("delimiter", options.get("delimiter", default_delimiter))
    quote_char = check_single_char("quote_char", options.get("quote_char", '"'))
    encoding = check_encoding(options["encoding"]) if "encoding" in options else None
    skip_rows = check_count("skip_rows", options.get("skip_rows", 0), "lines to skip before the header")
    return DelimitedFormat(
        delimiter=delimiter,
        quote_char=quote_char,
        encoding=encoding,
        skip_rows=skip_rows,
        null_values=null_values_option(options),
        describes=_DESCRIBES.get(default_delimiter, "a delimited text file"),
    )


def _open_text(path: Path, fmt: DelimitedFormat, compression: str | None, encoding: str) -> IO[str]:
    raw = open_binary(path, compression)
    if fmt.lines is None:
        return io.TextIOWrapper(raw, encoding=python_codec(encoding), newline="")
    stream = io.BufferedReader(EncodedChunks(fmt.lines(path, text_chunks(raw, encoding, BLOCK_SIZE)), raw))
    return io.TextIOWrapper(stream, encoding="utf-8", newline="")


def _read_header(path: Path, fmt: DelimitedFormat, compression: str | None, encoding: str) -> tuple[list[str], bool]:
    """The header's column names, and whether any line follows the header."""
    try:
        with _open_text(path, fmt, compression, encoding) as handle:
            reader = csv.reader(handle, delimiter=fmt.delimiter, quotechar=fmt.quote_char)
            for _ in range(fmt.skip_rows):
                next(reader, None)
            header = next(reader, None)
            try:
                has_rows = next(reader, None) is not None
            except csv.Error:  # a data row is there; Arrow reports what is wrong with it
                has_rows = True
    except UnicodeDecodeError as exc:
        raise encoding_error(path, encoding, str(exc), fmt.encoding_hint) from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise gzip_error(path, str(exc)) from exc
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


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _ragged_error(path: Path, row: pacsv.InvalidRow, fmt: DelimitedFormat) -> FileFormatError:
    """A row whose number of values differs from the header's: never padded or cut, always refused."""
    where = f"data row {row.number - fmt.skip_rows - 1}" if row.number is not None else "a data row"
    return FileFormatError(
        f"{path.name}: {where} has {_plural(row.actual_columns, 'value')} "
        f"but the header has {_plural(row.expected_columns, 'column')}.",
        detail=f"row text: {row.text[:500]}",
        hint="Each row needs one value per header column: look for a missing or extra delimiter, "
        "or a value holding the delimiter without quotes around it.",
    )


# A row longer than two read blocks makes Arrow stop; the file is then read again with larger blocks.
MAX_BLOCK_SIZE = 64 << 20
_READ_ERRORS = (pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError, zlib.error)


def _close(source: Any) -> None:
    if hasattr(source, "close"):
        source.close()


@dataclass
class _DelimitedReading:
    """Arrow's streaming CSV reader over one file, reopened with larger blocks when a row outgrows them."""

    path: Path
    fmt: DelimitedFormat
    names: list[str]
    compression: str | None
    encoding: str
    block_size: int
    invalid: list[pacsv.InvalidRow] = field(default_factory=list)

    def open(self) -> tuple[pacsv.CSVStreamingReader, Any]:
        """The reader and what it reads; Arrow reads the first block here, so its errors surface now."""
        while True:
            source, arrow_encoding = _arrow_source(self.path, self.fmt, self.compression, self.encoding)
            try:
                return self._open_csv(source, arrow_encoding), source
            except BaseException as exc:
                _close(source)
                if self._grow(exc):
                    continue
                if isinstance(exc, _READ_ERRORS):
                    raise self.explain(exc) from exc
                raise

    def batches(self, reader: pacsv.CSVStreamingReader, source: Any) -> Iterator[pa.RecordBatch]:
        done = 0
        while True:
            skip = done  # rows already handed out by an earlier pass
            try:
                for batch in reader:
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    batch, skip = batch.slice(skip), 0
                    done += batch.num_rows
                    yield apply_null_values(batch, self.fmt.null_values)
                return
            except FileFormatError:  # from the line filter, already plain
                raise
            except _READ_ERRORS as exc:
                if not self._grow(exc):
                    raise self.explain(exc) from exc
            finally:
                reader.close()
                _close(source)
            reader, source = self.open()

    def _grow(self, exc: BaseException) -> bool:
        if isinstance(exc, pa.ArrowInvalid) and "straddl" in str(exc) and self.block_size < MAX_BLOCK_SIZE:
            self.block_size *= 4
            return True
        return False

    def _refuse(self, row: pacsv.InvalidRow) -> str:
        self.invalid.append(row)
        return "error"

    def _open_csv(self, source: Any, arrow_encoding: str) -> pacsv.CSVStreamingReader:
        return pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                column_names=self.names,
                skip_rows=self.fmt.skip_rows + 1,
                block_size=self.block_size,
                encoding=arrow_encoding,
                use_threads=False,  # a serial reader numbers the rows it refuses
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.fmt.delimiter,
                quote_char=self.fmt.quote_char,
                newlines_in_values=True,
                invalid_row_handler=self._refuse,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in self.names},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=False,
            ),
        )

    def explain(self, exc: BaseException) -> FileFormatError:
        """What went wrong while reading the file, as a user-facing error."""
        path, text = self.path, str(exc)
        if self.invalid:
            return _ragged_error(path, self.invalid[0], self.fmt)
        if isinstance(exc, UnicodeDecodeError) or "UTF8" in text or "utf8" in text.lower():
            return encoding_error(path, self.encoding, text, self.fmt.encoding_hint)
        if "straddl" in text:
            return FileFormatError(
                f"{path.name}: a row is longer than {MAX_BLOCK_SIZE / (1 << 20):g} MB, too long to read.",
                detail=text,
                hint="Check the file's quotes: a quote that is never closed makes the rest of the file one value.",
            )
        if self.compression and isinstance(exc, OSError | EOFError | zlib.error):
            return gzip_error(path, text)
        if isinstance(exc, OSError):
            return FileFormatError(f"{path.name} could not be read ({text}).", detail=text)
        return FileFormatError(f"{path.name}: {text.removeprefix('CSV parse error: ')}", detail=text)


def _arrow_source(path: Path, fmt: DelimitedFormat, compression: str | None, encoding: str) -> tuple[Any, str]:
    """What Arrow reads (a path, a decompressing stream or the filtered text) and in which encoding."""
    if fmt.lines is not None:
        raw = open_binary(path, compression)
        return EncodedChunks(fmt.lines(path, text_chunks(raw, encoding, BLOCK_SIZE)), raw), "utf8"
    arrow_encoding = "utf8" if codecs.lookup(encoding).name == "utf-8" else encoding
    if compression:
        return pa.input_stream(str(path), compression=compression), arrow_encoding
    return str(path), arrow_encoding


def stream_delimited(path: Path, fmt: DelimitedFormat) -> ParsedFile:
    """Stream a delimited text file as string columns; empty fields and ``fmt.null_values`` become NULL.

    A gzip-compressed file is read as what it holds; a byte-order mark sets the encoding unless one is given.
    """
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path.name} is empty: expected a header row with column names.")
    compression = check_text_file(path, fmt.describes)
    try:
        encoding = fmt.encoding or detect_encoding(path, compression)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise gzip_error(path, str(exc)) from exc
    names, has_rows = _read_header(path, fmt, compression, encoding)
    if fmt.check_header is not None:
        fmt.check_header(path, tuple(names))
    if not has_rows:  # Arrow cannot skip a header that has no line ending after it
        return ParsedFile(columns=tuple(names), batches=iter(()))
    reading = _DelimitedReading(path, fmt, names, compression, encoding, BLOCK_SIZE)
    return ParsedFile(columns=tuple(names), batches=reading.batches(*reading.open()))


def read_delimited(path: Path, options: Mapping[str, Any], default_delimiter: str) -> ParsedFile:
    """Stream a delimited text file as string columns; empty fields (and any ``null_values``) become NULL."""
    return stream_delimited(path, _csv_format(options, default_delimiter))


@register_parser("csv")
def parse_csv(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    return read_delimited(path, options, ",")


@register_parser("tsv")
def parse_tsv(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    return read_delimited(path, options, "\t")


@register_parser("psv")
def parse_psv(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    return read_delimited(path, options, "|")


# Each module registers its parsers into the registry above when imported.
from dagster_code.engine import custom_parsers, parsers_excel, parsers_generic, parsers_structured  # noqa: E402,F401
