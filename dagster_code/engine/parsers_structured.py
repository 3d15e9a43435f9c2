"""Parsers for structured files: Excel (xlsx), JSON, JSON Lines and Parquet.

Like the delimited parsers, every value comes out as text (or NULL) so the loader can COPY
it into the staging table and PostgreSQL does the typing: ``00123`` stays ``00123``, numbers
keep their written digits, dates are ISO. Excel, JSON Lines and Parquet are streamed in
batches (bounded memory); a JSON document is read whole. Every parser takes ``null_values``,
texts to load as NULL; a file whose first bytes say it is another kind is refused plainly.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dagster_code.engine.errors import ConfigError, FileFormatError
from dagster_code.engine.parsers import (
    BLOCK_SIZE,
    ParsedFile,
    apply_null_values,
    check_options,
    null_values_option,
    register_parser,
    sniff_kind,
    wrong_kind_error,
)

# Rows per record batch; JSON Lines batches are also cut at BLOCK_SIZE bytes of input.
ROWS_PER_BATCH = 10_000


def _check_file(path: Path, expected: str, described: str, accepted: tuple[str, ...]) -> str:
    """Refuse an empty file, or one whose first bytes say it is not one of the ``accepted`` kinds."""
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path.name} is empty: expected {expected}.")
    kind = sniff_kind(path)
    if kind not in accepted:
        raise wrong_kind_error(path, kind, described)
    return kind


_JSON_KINDS = ("json", "text")  # a malformed document is refused by the JSON reader, with line and column


def _batch(columns: Sequence[str], rows: Sequence[Sequence[str | None]]) -> pa.RecordBatch:
    arrays = [pa.array([row[i] for row in rows], type=pa.string()) for i in range(len(columns))]
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def _check_header(path: Path, names: Sequence[str], where: str) -> None:
    blanks = [str(i + 1) for i, name in enumerate(names) if not name]
    if blanks:
        raise FileFormatError(f"{path.name}: {where} column(s) {', '.join(blanks)} have no name.")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileFormatError(f"{path.name}: {where} repeats column(s) {', '.join(duplicates)}.")


# ------------------------------------------------------------------------------- JSON values


class _Number(str):
    """A JSON number kept as its exact text (``1.10`` stays ``1.10``)."""


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=_Number, parse_int=_Number)


def _json_text(value: Any) -> str:
    """JSON text of a parsed value, numbers written exactly as in the file."""
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _json_value(value: Any) -> str | None:
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return str(value)
    return _json_text(value)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, _Number) else "a string"


# ------------------------------------------------------------------------------- JSON Lines


def _jsonl_records(path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(line number, line length, object) for each non-blank line."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = _loads(line)
                except json.JSONDecodeError as exc:
                    raise FileFormatError(
                        f"{path.name}: line {number} is not valid JSON ({exc.msg}, column {exc.colno}).",
                        detail=str(exc),
                        hint="Each line of a JSON Lines file must hold one complete JSON object.",
                    ) from exc
                if not isinstance(record, dict):
                    raise FileFormatError(
                        f"{path.name}: line {number} is {_describe(record)}, not a JSON object.",
                        hint="Each line of a JSON Lines file must hold one JSON object.",
                    )
                yield number, len(line), record
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path.name}: the file is not valid UTF-8 text.", detail=str(exc)) from exc


def _jsonl_batches(
    path: Path,
    columns: tuple[str, ...],
    records: Iterator[tuple[int, int, dict[str, Any]]],
    null_values: tuple[str, ...],
) -> Iterator[pa.RecordBatch]:
    known = set(columns)
    rows: list[list[str | None]] = []
    size = 0
    for number, length, record in records:
        extra = [key for key in record if key not in known]
        if extra:
            raise FileFormatError(
                f"{path.name}: line {number} has key(s) {', '.join(extra)} that the first object does not have "
                f"(columns: {', '.join(columns)}).",
                hint="Every line must use the keys of the first line (a key may be left out, which loads NULL).",
            )
        rows.append([_json_value(record.get(name)) for name in columns])
        size += length
        if len(rows) >= ROWS_PER_BATCH or size >= BLOCK_SIZE:
            yield apply_null_values(_batch(columns, rows), null_values)
            rows, size = [], 0
    if rows:
        yield apply_null_values(_batch(columns, rows), null_values)


@register_parser("jsonl")
def parse_jsonl(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    """One JSON object per line; the first object's keys are the columns."""
    check_options(options, {"null_values"}, "a JSON Lines file")
    null_values = null_values_option(options)
    expected = "one JSON object per line"
    _check_file(path, expected, "a JSON Lines file", _JSON_KINDS)
    records = _jsonl_records(path)
    first = next(records, None)
    if first is None:
        raise FileFormatError(f"{path.name} is empty: expected {expected}.")
    number, _, record = first
    if not record:
        raise FileFormatError(f"{path.name}: the object on line {number} has no keys to use as columns.")
    columns = tuple(record)

    def replay() -> Iterator[tuple[int, int, dict[str, Any]]]:
        yield first
        yield from records

    return ParsedFile(columns=columns, batches=_jsonl_batches(path, columns, replay(), null_values))


# ------------------------------------------------------------------------------------- JSON


@register_parser("json")
def parse_json(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    """A list of objects, or an object holding that list under ``json_path`` (e.g. ``"data.items"``).

    Columns are the union of the records' keys in order of first appearance; a missing key is NULL.
    """
    check_options(options, {"json_path", "null_values"}, "a JSON file")
    null_values = null_values_option(options)
    json_path = options.get("json_path")
    if json_path is not None and (not isinstance(json_path, str) or not all(json_path.split("."))):
        raise ConfigError(f"'json_path' must be dot-separated key names such as \"data.items\", got {json_path!r}.")
    expected = "a JSON list of records"
    _check_file(path, expected, "a JSON file", _JSON_KINDS)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path.name}: the file is not valid UTF-8 text.", detail=str(exc)) from exc
    if not text.strip():
        raise FileFormatError(f"{path.name} is empty: expected {expected}.")
    try:
        document = _loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{path.name} is not valid JSON ({exc.msg}, line {exc.lineno}, column {exc.colno}).", detail=str(exc)
        ) from exc
    records = document
    if json_path:
        walked: list[str] = []
        for key in json_path.split("."):
            if not isinstance(records, dict) or key not in records:
                at = f"'{'.'.join(walked)}'" if walked else "the top level"
                raise FileFormatError(
                    f"{path.name}: no key '{key}' at {at} (json_path '{json_path}').",
                    hint="Fix 'json_path' in the import options so it names the list of records.",
                )
            records = records[key]
            walked.append(key)
    if not isinstance(records, list):
        where = f"'{json_path}'" if json_path else "the top level"
        raise FileFormatError(
            f"{path.name}: expected a list of records at {where}, found {_describe(records)}.",
            hint='Set \'json_path\' to the key holding the records, e.g. {"json_path": "data.items"}.',
        )
    columns: dict[str, None] = {}
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise FileFormatError(f"{path.name}: record {index} is {_describe(record)}, not a JSON object.")
        columns.update(dict.fromkeys(record))
    names = tuple(columns)
    if records and not names:
        raise FileFormatError(f"{path.name}: the records have no keys to use as columns.")

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, len(records), ROWS_PER_BATCH):
            chunk = records[start : start + ROWS_PER_BATCH]
            rows = [[_json_value(record.get(name)) for name in names] for record in chunk]
            yield apply_null_values(_batch(names, rows), null_values)

    return ParsedFile(columns=names, batches=batches())


# ---------------------------------------------------------------------------------- Parquet


def _nested_text(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def _parquet_column(path: Path, name: str, column: pa.Array) -> pa.Array:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_nested(kind):
        return pa.array([_nested_text(v) for v in column.to_pylist()], type=pa.string())
    try:
        text = column.cast(pa.string())
    except pa.ArrowNotImplementedError:
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], type=pa.string())
    except pa.ArrowInvalid as exc:
        raise FileFormatError(f"{path.name}: column {name} holds values that are not text.", detail=str(exc)) from exc
    if pa.types.is_timestamp(kind):  # '2024-03-01 12:30:00.000000' -> ISO 8601 with a 'T'
        text = pc.replace_substring(text, " ", "T", max_replacements=1)
    return text


def _parquet_batches(
    path: Path, handle: pq.ParquetFile, columns: tuple[str, ...], null_values: tuple[str, ...]
) -> Iterator[pa.RecordBatch]:
    try:
        for batch in handle.iter_batches(batch_size=ROWS_PER_BATCH):
            arrays = [_parquet_column(path, name, batch.column(i)) for i, name in enumerate(columns)]
            yield apply_null_values(pa.RecordBatch.from_arrays(arrays, names=list(columns)), null_values)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileFormatError(f"{path.name}: the Parquet file cannot be read ({exc}).", detail=str(exc)) from exc
    finally:
        handle.close()


@register_parser("parquet")
def parse_parquet(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    """Every column as text: ISO dates and timestamps, exact decimals, true/false; nested values as JSON."""
    check_options(options, {"null_values"}, "a Parquet file")
    null_values = null_values_option(options)
    _check_file(path, "a Parquet file", "a Parquet file", ("parquet",))
    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileFormatError(f"{path.name} is not a readable Parquet file.", detail=str(exc)) from exc
    columns = tuple(handle.schema_arrow.names)
    _check_header(path, columns, "the schema")
    return ParsedFile(columns=columns, batches=_parquet_batches(path, handle, columns, null_values))


# ------------------------------------------------------------------------------------ Excel


def _cell_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _excel_rows(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[int, list[str | None]]]:
    """(sheet row number, cell texts) for each row, fully empty trailing rows left out."""
    pending: list[tuple[int, list[str | None]]] = []
    for number, row in enumerate(rows, start=1):
        cells = [_cell_text(value) for value in row]
        if all(cell is None for cell in cells):
            pending.append((number, cells))
            continue
        yield from pending
        pending.clear()
        yield number, cells


def _excel_batches(
    path: Path,
    columns: tuple[str, ...],
    rows: Iterator[tuple[int, list[str | None]]],
    null_values: tuple[str, ...],
    close: Any,
) -> Iterator[pa.RecordBatch]:
    width = len(columns)
    batch: list[list[str | None]] = []
    try:
        for number, cells in rows:
            extra = [i for i, cell in enumerate(cells[width:], start=width + 1) if cell is not None]
            if extra:
                raise FileFormatError(
                    f"{path.name}: row {number} has a value in column {extra[0]}, "
                    f"beyond the header's {width} column(s)."
                )
            batch.append(cells[:width] + [None] * (width - len(cells)))
            if len(batch) >= ROWS_PER_BATCH:
                yield apply_null_values(_batch(columns, batch), null_values)
                batch = []
        if batch:
            yield apply_null_values(_batch(columns, batch), null_values)
    finally:
        close()


_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?worksheet\b")
_REFERENCE = re.compile(rb'\sr="([^"]*)"')
_CELL_TYPE = re.compile(rb'\st="([^"]*)"')
_VALUE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?v(?:\s[^>]*?)?(?:/>|>([^<]*)<)")  # group 1: the saved result
_LISTED_CELLS = 5


def _formula_cells(source: Any) -> Iterator[bytes]:
    """Each cell element of a sheet's XML that holds a formula, found in the bytes (far quicker than parsing)."""
    buffer = source.read(BLOCK_SIZE)
    root = _ROOT.search(buffer)
    prefix = (root.group(1) or b"") if root else b""  # some writers put every tag in a namespace, e.g. <x:c>
    formula = re.compile(re.escape(b"<" + prefix + b"f") + rb"[\s/>]")
    cell_starts = (b"<" + prefix + b"c ", b"<" + prefix + b"c>")
    cell_end, row_end = b"</" + prefix + b"c>", b"</" + prefix + b"row>"
    while buffer:
        more = source.read(BLOCK_SIZE)
        last_row = buffer.rfind(row_end)
        cut = len(buffer) if not more else last_row + len(row_end) if last_row >= 0 else 0  # whole rows only
        for match in formula.finditer(buffer, 0, cut):
            start = max(buffer.rfind(tag, 0, match.start()) for tag in cell_starts)
            yield buffer[start : buffer.find(cell_end, match.end()) + len(cell_end)]
        buffer = buffer[cut:] + more


def _cells_without_results(path: Path, sheet_xml: str) -> list[str]:
    """References of the cells holding a formula the file saved no result for (openpyxl and scripts write such)."""
    found: list[str] = []
    with zipfile.ZipFile(path) as archive, archive.open(sheet_xml) as source:
        for cell in _formula_cells(source):
            head = cell[: cell.find(b">")]
            kind = _CELL_TYPE.search(head)
            value = _VALUE.search(cell)
            if value is None or not (value.group(1) or (kind and kind.group(1) == b"str")):
                reference = _REFERENCE.search(head)
                found.append(reference.group(1).decode() if reference else "?")
    return found


def _check_formulas(path: Path, sheet: Any) -> None:
    cells = _cells_without_results(path, sheet._worksheet_path)
    if cells:
        more = f" and {len(cells) - _LISTED_CELLS} more" if len(cells) > _LISTED_CELLS else ""
        raise FileFormatError(
            f"{path.name}: sheet '{sheet.title}' has formulas with no saved result in cell(s) "
            f"{', '.join(cells[:_LISTED_CELLS])}{more}; they would load as empty values.",
            hint="Open the file in Excel (or LibreOffice) and save it, so the results are stored with the "
            "formulas; files written by scripts often hold formulas without results.",
        )


def _excel_header(path: Path, rows: Iterator[tuple[int, list[str | None]]]) -> tuple[str, ...]:
    header = next((row for row in rows if any(cell is not None for cell in row[1])), None)
    if header is None:
        raise FileFormatError(f"{path.name} is empty: expected a header row with column names.")
    number, cells = header
    while cells and cells[-1] is None:
        cells.pop()
    names = [(cell or "").strip() for cell in cells]
    _check_header(path, names, f"the header (row {number})")
    return tuple(names)


@register_parser("excel")
def parse_excel(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    """An xlsx sheet (the first, or ``sheet_name``): the first non-empty row is the header.

    Cells are read as their saved values, every row there is whatever the file's stated dimension;
    formulas the file saved no result for are refused (they would otherwise load as NULL).
    """
    from openpyxl import load_workbook  # imported here: only Excel imports pay for it
    from openpyxl.utils.exceptions import InvalidFileException

    check_options(options, {"sheet_name", "null_values"}, "an Excel file")
    null_values = null_values_option(options)
    sheet_name = options.get("sheet_name")
    if sheet_name is not None and not isinstance(sheet_name, str):
        raise ConfigError(f"'sheet_name' must be the name of a sheet, got {sheet_name!r}.")
    kind = _check_file(path, "an Excel workbook (xlsx)", "an Excel workbook", ("excel", "zip", "xls"))
    if kind == "xls":
        raise FileFormatError(
            f"{path.name} is an old-style Excel workbook (.xls), which cannot be read; "
            "save it as .xlsx (or the sheet as CSV).",
            hint="In Excel: File > Save As > Excel Workbook (.xlsx).",
        )
    handle = open(path, "rb")  # a file object: openpyxl would otherwise insist on an .xlsx name
    try:
        try:
            workbook = load_workbook(handle, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
            raise FileFormatError(
                f"{path.name} is not a readable Excel workbook (xlsx).",
                detail=f"{type(exc).__name__}: {exc}",
                hint="Save the file as .xlsx (older .xls workbooks are not supported).",
            ) from exc

        def close() -> None:
            workbook.close()
            handle.close()

        try:
            if sheet_name is None:
                sheet = workbook.worksheets[0]
            elif sheet_name in workbook.sheetnames:
                sheet = workbook[sheet_name]
            else:
                raise ConfigError(
                    f"{path.name} has no sheet named '{sheet_name}'. Its sheets: {', '.join(workbook.sheetnames)}."
                )
            _check_formulas(path, sheet)
            sheet.reset_dimensions()  # the file's stated dimension can be wrong; read every row there is
            rows = _excel_rows(sheet.iter_rows(values_only=True))
            columns = _excel_header(path, rows)
        except BaseException:
            close()
            raise
    except BaseException:
        handle.close()
        raise
    return ParsedFile(columns=columns, batches=_excel_batches(path, columns, rows, null_values, close))
