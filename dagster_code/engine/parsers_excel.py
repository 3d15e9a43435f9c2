"""The Excel parser: one xlsx sheet, streamed in batches, every cell as text (or NULL).

Cells are read as their saved values; the first non-empty row is the header. A formula the file
saved no result for is refused rather than loaded as NULL, found by scanning the sheet's XML.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from dagster_code.engine.errors import ConfigError, FileFormatError
from dagster_code.engine.parsers import (
    BLOCK_SIZE,
    ParsedFile,
    apply_null_values,
    check_options,
    null_values_option,
    register_parser,
)
from dagster_code.engine.parsers_text import ROWS_PER_BATCH, check_column_names, check_file_kind, string_batch


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
                yield apply_null_values(string_batch(columns, batch), null_values)
                batch = []
        if batch:
            yield apply_null_values(string_batch(columns, batch), null_values)
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
    check_column_names(path, names, f"the header (row {number})")
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
    kind = check_file_kind(path, "an Excel workbook (xlsx)", "an Excel workbook", ("excel", "zip", "xls"))
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
