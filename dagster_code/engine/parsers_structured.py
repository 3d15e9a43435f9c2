"""Parsers for structured files: JSON, JSON Lines and Parquet (Excel is in ``parsers_excel``).

Like the delimited parsers, every value comes out as text (or NULL) so the loader can COPY
it into the staging table and PostgreSQL does the typing: ``00123`` stays ``00123``, numbers
keep their written digits, dates are ISO. JSON Lines and Parquet are streamed in batches
(bounded memory); a JSON document is read whole. Every parser takes ``null_values``, texts to
load as NULL; a file whose first bytes say it is another kind is refused plainly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
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
)
from dagster_code.engine.parsers_text import ROWS_PER_BATCH, check_column_names, check_file_kind, string_batch

_JSON_KINDS = ("json", "text")  # a malformed document is refused by the JSON reader, with line and column


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
            yield apply_null_values(string_batch(columns, rows), null_values)
            rows, size = [], 0
    if rows:
        yield apply_null_values(string_batch(columns, rows), null_values)


@register_parser("jsonl")
def parse_jsonl(path: Path, options: Mapping[str, Any]) -> ParsedFile:
    """One JSON object per line; the first object's keys are the columns."""
    check_options(options, {"null_values"}, "a JSON Lines file")
    null_values = null_values_option(options)
    expected = "one JSON object per line"
    check_file_kind(path, expected, "a JSON Lines file", _JSON_KINDS)
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
    check_file_kind(path, expected, "a JSON file", _JSON_KINDS)
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
            yield apply_null_values(string_batch(names, rows), null_values)

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
    check_file_kind(path, "a Parquet file", "a Parquet file", ("parquet",))
    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileFormatError(f"{path.name} is not a readable Parquet file.", detail=str(exc)) from exc
    columns = tuple(handle.schema_arrow.names)
    check_column_names(path, columns, "the schema")
    return ParsedFile(columns=columns, batches=_parquet_batches(path, handle, columns, null_values))
