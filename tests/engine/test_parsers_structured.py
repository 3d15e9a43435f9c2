"""Structured-file parsers (Excel, JSON, JSON Lines, Parquet): exact columns and text values, clear errors."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from dagster_code.engine.errors import ConfigError, FileFormatError
from dagster_code.engine.loader import load_files
from dagster_code.engine.parsers import get_parser, registered_parsers


def parse(path: Path, file_type: str, **options) -> tuple[tuple[str, ...], list[dict]]:
    """Column names and every row as a dict, read through the registered parser."""
    parsed = get_parser(file_type)(path, options)
    rows = [row for batch in parsed.batches for row in batch.to_pylist()]
    return parsed.columns, rows


def write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def write_xlsx(path: Path, rows: list[list], sheet: str = "Sheet1", more_sheets: tuple[str, ...] = ()) -> Path:
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    for row in rows:
        worksheet.append(row)
    for name in more_sheets:
        workbook.create_sheet(name).append(["other"])
    workbook.save(path)
    return path


def test_registry_offers_the_structured_parsers() -> None:
    assert {"excel", "json", "jsonl", "parquet"} <= set(registered_parsers())


@pytest.mark.parametrize(
    ("file_type", "kind", "allowed"),
    [
        ("excel", "an Excel file", "null_values, sheet_name"),
        ("json", "a JSON file", "json_path, null_values"),
        ("jsonl", "a JSON Lines file", "null_values"),
        ("parquet", "a Parquet file", "null_values"),
    ],
)
def test_unknown_option_is_a_config_error_listing_the_allowed_ones(
    tmp_path: Path, file_type: str, kind: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        get_parser(file_type)(tmp_path / "missing", {"delimiter": ";"})

    assert caught.value.message == f"Unknown option(s) delimiter for {kind}; allowed: {allowed}."


@pytest.mark.parametrize(
    ("file_type", "message"),
    [
        ("excel", "e.bin is empty: expected an Excel workbook (xlsx)."),
        ("json", "e.bin is empty: expected a JSON list of records."),
        ("jsonl", "e.bin is empty: expected one JSON object per line."),
        ("parquet", "e.bin is empty: expected a Parquet file."),
    ],
)
def test_zero_byte_file_is_refused_naming_the_file(tmp_path: Path, file_type: str, message: str) -> None:
    path = write_text(tmp_path / "e.bin", "")

    with pytest.raises(FileFormatError) as caught:
        parse(path, file_type)

    assert caught.value.message == message


# -------------------------------------------------------------------------------- JSON Lines


def test_jsonl_values_are_text_with_numbers_exact_and_nested_values_as_json(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "r.jsonl",
        '{"id": "00123", "amount": 1.10, "n": 7, "ok": true, "note": "NA", "tags": ["a", 1.50], "m": {"k": null}}\n'
        "\n"
        '{"id": "東京", "amount": -0.5e3, "n": null, "ok": false, "note": "null"}\n'
        '{"note": "Zoë 🚀", "id": ""}\n',
    )

    assert parse(path, "jsonl") == (
        ("id", "amount", "n", "ok", "note", "tags", "m"),
        [
            {
                "id": "00123",
                "amount": "1.10",
                "n": "7",
                "ok": "true",
                "note": "NA",
                "tags": '["a", 1.50]',
                "m": '{"k": null}',
            },
            {"id": "東京", "amount": "-0.5e3", "n": None, "ok": "false", "note": "null", "tags": None, "m": None},
            {"id": "", "amount": None, "n": None, "ok": None, "note": "Zoë 🚀", "tags": None, "m": None},
        ],
    )


def test_jsonl_is_streamed_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_code.engine import parsers_structured

    monkeypatch.setattr(parsers_structured, "ROWS_PER_BATCH", 2)
    path = write_text(tmp_path / "r.jsonl", "".join(f'{{"i": {i}}}\n' for i in range(5)))

    parsed = get_parser("jsonl")(path, {})

    assert [batch.column(0).to_pylist() for batch in parsed.batches] == [["0", "1"], ["2", "3"], ["4"]]


def test_jsonl_invalid_line_names_the_line(tmp_path: Path) -> None:
    path = write_text(tmp_path / "bad.jsonl", '{"a": 1}\n\n{"a": 2,}\n')
    parsed = get_parser("jsonl")(path, {})

    with pytest.raises(FileFormatError) as caught:
        list(parsed.batches)

    assert (
        caught.value.message
        == "bad.jsonl: line 3 is not valid JSON (Expecting property name enclosed in double quotes, column 9)."
    )


def test_jsonl_invalid_first_line_is_refused_before_any_batch(tmp_path: Path) -> None:
    path = write_text(tmp_path / "bad.jsonl", "{oops\n")

    with pytest.raises(FileFormatError, match=r"^bad\.jsonl: line 1 is not valid JSON"):
        get_parser("jsonl")(path, {})


def test_jsonl_key_not_in_the_first_object_is_schema_drift_naming_the_line(tmp_path: Path) -> None:
    path = write_text(tmp_path / "drift.jsonl", '{"a": 1, "b": 2}\n{"a": 3}\n{"a": 4, "c": 5, "d": 6}\n')
    parsed = get_parser("jsonl")(path, {})

    with pytest.raises(FileFormatError) as caught:
        list(parsed.batches)

    assert caught.value.message == (
        "drift.jsonl: line 3 has key(s) c, d that the first object does not have (columns: a, b)."
    )


def test_jsonl_line_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    path = write_text(tmp_path / "list.jsonl", "[1, 2]\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path, "jsonl")

    assert caught.value.message == "list.jsonl: line 1 is a list, not a JSON object."


def test_jsonl_of_blank_lines_is_empty(tmp_path: Path) -> None:
    path = write_text(tmp_path / "blank.jsonl", "\n  \n")

    with pytest.raises(FileFormatError) as caught:
        parse(path, "jsonl")

    assert caught.value.message == "blank.jsonl is empty: expected one JSON object per line."


# -------------------------------------------------------------------------------------- JSON


def test_json_list_of_records_takes_the_union_of_keys(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "r.json", '[{"id": "007", "price": 19.90}, {"id": "8", "extra": [1, {"x": true}], "price": null}]'
    )

    assert parse(path, "json") == (
        ("id", "price", "extra"),
        [
            {"id": "007", "price": "19.90", "extra": None},
            {"id": "8", "price": None, "extra": '[1, {"x": true}]'},
        ],
    )


def test_json_records_under_json_path(tmp_path: Path) -> None:
    path = write_text(tmp_path / "api.json", '{"data": {"items": [{"name": "Crème"}, {"name": "N/A"}]}, "total": 2}')

    assert parse(path, "json", json_path="data.items") == (("name",), [{"name": "Crème"}, {"name": "N/A"}])


def test_json_empty_list_has_no_rows(tmp_path: Path) -> None:
    path = write_text(tmp_path / "none.json", "[]")

    assert parse(path, "json") == ((), [])


def test_json_object_without_json_path_is_refused(tmp_path: Path) -> None:
    path = write_text(tmp_path / "api.json", '{"data": {"items": []}}')

    with pytest.raises(FileFormatError) as caught:
        parse(path, "json")

    assert caught.value.message == "api.json: expected a list of records at the top level, found an object."


def test_json_path_to_a_non_list_is_refused(tmp_path: Path) -> None:
    path = write_text(tmp_path / "api.json", '{"data": {"items": {"a": 1}}}')

    with pytest.raises(FileFormatError) as caught:
        parse(path, "json", json_path="data.items")

    assert caught.value.message == "api.json: expected a list of records at 'data.items', found an object."


def test_json_path_to_a_missing_key_is_refused(tmp_path: Path) -> None:
    path = write_text(tmp_path / "api.json", '{"data": {"rows": []}}')

    with pytest.raises(FileFormatError) as caught:
        parse(path, "json", json_path="data.items")

    assert caught.value.message == "api.json: no key 'items' at 'data' (json_path 'data.items')."


def test_json_malformed_names_line_and_column(tmp_path: Path) -> None:
    path = write_text(tmp_path / "bad.json", '[\n{"a": 1},\n{"a" 2}\n]')

    with pytest.raises(FileFormatError) as caught:
        parse(path, "json")

    assert caught.value.message == "bad.json is not valid JSON (Expecting ':' delimiter, line 3, column 6)."


def test_json_record_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    path = write_text(tmp_path / "r.json", '[{"a": 1}, "b"]')

    with pytest.raises(FileFormatError) as caught:
        parse(path, "json")

    assert caught.value.message == "r.json: record 2 is a string, not a JSON object."


def test_json_bad_json_path_option_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'json_path' must be dot-separated key names"):
        parse(tmp_path / "x.json", "json", json_path="data..items")


# ----------------------------------------------------------------------------------- Parquet


def test_parquet_columns_become_exact_text(tmp_path: Path) -> None:
    table = pa.table(
        {
            "code": pa.array(["00123", "NA", None]),
            "n": pa.array([1, None, -3], pa.int64()),
            "amount": pa.array([Decimal("12345.6789"), Decimal("-0.1000"), None], pa.decimal128(12, 4)),
            "day": pa.array([dt.date(2024, 2, 29), None, dt.date(1999, 12, 31)]),
            "at": pa.array([dt.datetime(2024, 3, 1, 12, 30, 0, 500000), None, None], pa.timestamp("us")),
            "at_utc": pa.array([dt.datetime(2024, 3, 1, 12, 30), None, None], pa.timestamp("us", tz="UTC")),
            "ok": pa.array([True, False, None]),
            "city": pa.array(["東京", "Zoë", "🚀"]).dictionary_encode(),
            "tags": pa.array([["a", "b"], None, []]),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)

    columns, rows = parse(path, "parquet")

    assert columns == ("code", "n", "amount", "day", "at", "at_utc", "ok", "city", "tags")
    assert rows == [
        {
            "code": "00123",
            "n": "1",
            "amount": "12345.6789",
            "day": "2024-02-29",
            "at": "2024-03-01T12:30:00.500000",
            "at_utc": "2024-03-01T12:30:00.000000Z",
            "ok": "true",
            "city": "東京",
            "tags": '["a", "b"]',
        },
        {
            "code": "NA",
            "n": None,
            "amount": "-0.1000",
            "day": None,
            "at": None,
            "at_utc": None,
            "ok": "false",
            "city": "Zoë",
            "tags": None,
        },
        {
            "code": None,
            "n": "-3",
            "amount": None,
            "day": "1999-12-31",
            "at": None,
            "at_utc": None,
            "ok": None,
            "city": "🚀",
            "tags": "[]",
        },
    ]


def test_parquet_is_read_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_code.engine import parsers_structured

    monkeypatch.setattr(parsers_structured, "ROWS_PER_BATCH", 2)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"i": list(range(5))}), path)

    parsed = get_parser("parquet")(path, {})

    assert [batch.column(0).to_pylist() for batch in parsed.batches] == [["0", "1"], ["2", "3"], ["4"]]


def test_csv_given_to_the_parquet_parser_is_refused_saying_what_it_is(tmp_path: Path) -> None:
    path = write_text(tmp_path / "fake.parquet", "id,name\n1,a\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path, "parquet")

    assert caught.value.message == (
        "fake.parquet looks like a text (CSV) file, not a Parquet file; set the import's file type to csv, tsv or psv."
    )


def test_damaged_parquet_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + bytes(64))

    with pytest.raises(FileFormatError) as caught:
        parse(path, "parquet")

    assert caught.value.message == "broken.parquet is not a readable Parquet file."


# ------------------------------------------------------------------------------------- Excel


def test_excel_values_are_text(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "t.xlsx",
        [
            ["code", "n", "price", "day", "at", "ok", "note"],
            ["00123", 42, 1.1, dt.datetime(2024, 2, 29), dt.datetime(2024, 3, 1, 12, 30, 15), True, "NA"],
            [None, -7, 0.5, dt.date(1999, 12, 31), None, False, "東京 🚀"],
            [],
            [],
        ],
    )

    assert parse(path, "excel") == (
        ("code", "n", "price", "day", "at", "ok", "note"),
        [
            {
                "code": "00123",
                "n": "42",
                "price": "1.1",
                "day": "2024-02-29",
                "at": "2024-03-01T12:30:15",
                "ok": "true",
                "note": "NA",
            },
            {
                "code": None,
                "n": "-7",
                "price": "0.5",
                "day": "1999-12-31",
                "at": None,
                "ok": "false",
                "note": "東京 🚀",
            },
        ],
    )


def test_excel_header_is_the_first_non_empty_row_and_short_rows_are_padded(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", [[], [None, None], ["id", "name"], [1], [2, "b", None]])

    assert parse(path, "excel") == (("id", "name"), [{"id": "1", "name": None}, {"id": "2", "name": "b"}])


def test_excel_named_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", [["id"], [1]], more_sheets=("Data",))

    assert parse(path, "excel", sheet_name="Data") == (("other",), [])


def test_excel_unknown_sheet_is_a_config_error_listing_the_sheets(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", [["id"]], sheet="Main", more_sheets=("Data",))

    with pytest.raises(ConfigError) as caught:
        parse(path, "excel", sheet_name="Sheet1")

    assert caught.value.message == "t.xlsx has no sheet named 'Sheet1'. Its sheets: Main, Data."


def rewrite_sheet(source: Path, path: Path, rewrite) -> Path:
    """A copy of the workbook ``source`` with its first sheet's XML passed through ``rewrite``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = rewrite(data)
            dst.writestr(item, data)
    return path


@pytest.mark.parametrize("tag", [b"A1:B2", b"A1:A2", b"A1"])
def test_excel_wrong_dimension_tag_does_not_drop_rows_or_columns(tmp_path: Path, tag: bytes) -> None:
    source = write_xlsx(tmp_path / "src.xlsx", [["id", "name"], *[[i, f"n{i}"] for i in range(1, 10)]])

    def shrink_dimension(data: bytes) -> bytes:
        data, count = re.subn(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="' + tag + b'"/>', data)
        assert count == 1
        return data

    path = rewrite_sheet(source, tmp_path / "t.xlsx", shrink_dimension)

    assert parse(path, "excel") == (("id", "name"), [{"id": str(i), "name": f"n{i}"} for i in range(1, 10)])


# ---------------------------------------------------------------------------------- formulas


def test_excel_formulas_without_saved_results_are_refused_naming_the_cells(tmp_path: Path) -> None:
    rows = [["item", "qty", "price", "total"], *[[f"i{n}", n, 2, f"=B{n + 1}*C{n + 1}"] for n in range(1, 8)]]
    path = write_xlsx(tmp_path / "script.xlsx", rows, sheet="Orders")

    with pytest.raises(FileFormatError) as caught:
        get_parser("excel")(path, {})

    assert caught.value.message == (
        "script.xlsx: sheet 'Orders' has formulas with no saved result in cell(s) D2, D3, D4, D5, D6 and 2 more; "
        "they would load as empty values."
    )
    assert "save it" in caught.value.hint


def test_excel_formulas_are_checked_on_the_chosen_sheet_only(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["a", "=1+1"])
    data = workbook.create_sheet("Data")
    data.append(["id"])
    data.append([1])
    path = tmp_path / "t.xlsx"
    workbook.save(path)

    assert parse(path, "excel", sheet_name="Data") == (("id",), [{"id": "1"}])


def test_excel_formulas_with_saved_results_load_their_results(tmp_path: Path) -> None:
    source = write_xlsx(tmp_path / "src.xlsx", [["qty", "total", "label"], [2, "=A2*3", '=IF(A2>5,"big","")']])

    def save_results(data: bytes) -> bytes:  # what Excel writes when it saves: the formula and its result
        data = data.replace(b"<f>A2*3</f><v />", b"<f>A2*3</f><v>6</v>")
        return re.sub(rb'<c r="C2"><f>(.*?)</f><v ?/>', rb'<c r="C2" t="str"><f>\1</f><v></v>', data)

    path = rewrite_sheet(source, tmp_path / "saved.xlsx", save_results)

    assert parse(path, "excel") == (("qty", "total", "label"), [{"qty": "2", "total": "6", "label": None}])


def test_excel_row_longer_than_the_header_is_refused_naming_the_row(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", [["id", "name"], [1, "a"], [2, "b", None, "x"]])
    parsed = get_parser("excel")(path, {})

    with pytest.raises(FileFormatError) as caught:
        list(parsed.batches)

    assert caught.value.message == "t.xlsx: row 3 has a value in column 4, beyond the header's 2 column(s)."


def test_excel_header_with_a_blank_or_repeated_name_is_refused(tmp_path: Path) -> None:
    blank = write_xlsx(tmp_path / "blank.xlsx", [["id", None, "x"]])
    repeated = write_xlsx(tmp_path / "repeated.xlsx", [["id", "id"]])

    with pytest.raises(FileFormatError) as first:
        parse(blank, "excel")
    with pytest.raises(FileFormatError) as second:
        parse(repeated, "excel")

    assert first.value.message == "blank.xlsx: the header (row 1) column(s) 2 have no name."
    assert second.value.message == "repeated.xlsx: the header (row 1) repeats column(s) id."


def test_excel_empty_sheet_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", [])

    with pytest.raises(FileFormatError) as caught:
        parse(path, "excel")

    assert caught.value.message == "t.xlsx is empty: expected a header row with column names."


def test_csv_given_to_the_excel_parser_is_refused_saying_what_it_is(tmp_path: Path) -> None:
    path = write_text(tmp_path / "report.xlsx", "id,name\n1,a\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path, "excel")

    assert caught.value.message == (
        "report.xlsx looks like a text (CSV) file, not an Excel workbook; "
        "set the import's file type to csv, tsv or psv."
    )


def test_old_xls_workbook_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))

    with pytest.raises(FileFormatError) as caught:
        parse(path, "excel")

    assert caught.value.message == (
        "old.xls is an old-style Excel workbook (.xls), which cannot be read; save it as .xlsx (or the sheet as CSV)."
    )


def test_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.csv", "id\n1\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path, "excel")

    assert caught.value.message == "t.xlsx is not a readable Excel workbook (xlsx)."


@pytest.mark.parametrize(
    ("file_type", "expected"), [("json", "a JSON file"), ("jsonl", "a JSON Lines file"), ("parquet", "a Parquet file")]
)
def test_workbook_given_to_another_parser_is_refused_saying_what_it_is(
    tmp_path: Path, file_type: str, expected: str
) -> None:
    path = write_xlsx(tmp_path / "data.bin", [["id"], [1]])

    with pytest.raises(FileFormatError) as caught:
        parse(path, file_type)

    assert caught.value.message == (
        f"data.bin looks like an Excel workbook, not {expected}; "
        "set the import's file type to excel (or save the sheet as CSV)."
    )


# ------------------------------------------------------------------------------ NULL markers


def _null_marker_file(tmp_path: Path, file_type: str) -> Path:
    if file_type == "excel":
        return write_xlsx(tmp_path / "f.xlsx", [["code", "note"], ["00123", "n/a"], ["NA", "ok"]])
    if file_type == "json":
        return write_text(tmp_path / "f.json", '[{"code": "00123", "note": "n/a"}, {"code": "NA", "note": "ok"}]')
    if file_type == "jsonl":
        return write_text(tmp_path / "f.jsonl", '{"code": "00123", "note": "n/a"}\n{"code": "NA", "note": "ok"}\n')
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"code": ["00123", "NA"], "note": ["n/a", "ok"]}), path)
    return path


@pytest.mark.parametrize("file_type", ["excel", "json", "jsonl", "parquet"])
def test_null_values_option_makes_those_texts_null(tmp_path: Path, file_type: str) -> None:
    path = _null_marker_file(tmp_path, file_type)

    assert parse(path, file_type)[1] == [{"code": "00123", "note": "n/a"}, {"code": "NA", "note": "ok"}]
    assert parse(path, file_type, null_values=["NA", "n/a"])[1] == [
        {"code": "00123", "note": None},
        {"code": None, "note": "ok"},
    ]


@pytest.mark.parametrize("file_type", ["excel", "json", "jsonl", "parquet"])
def test_null_values_must_be_a_list_of_texts(tmp_path: Path, file_type: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(tmp_path / "missing", file_type, null_values="NA")

    assert (
        caught.value.message
        == "'null_values' must be a list of texts to load as NULL, e.g. [\"NA\", \"n/a\"], got 'NA'."
    )


# ------------------------------------------------------------------------------ loader round trip


@pytest.fixture
def items(warehouse: psycopg.Connection, warehouse_schema: str) -> str:
    """An empty staging table ``items(code text, amount numeric, day date, dagster_run_id text)``."""
    table = f"{warehouse_schema}.items"
    warehouse.execute(
        sql.SQL("CREATE TABLE {} (code text, amount numeric, day date, dagster_run_id text)").format(
            sql.Identifier(warehouse_schema, "items")
        )
    )
    return table


def _structured_file(tmp_path: Path, file_type: str) -> Path:
    if file_type == "jsonl":
        return write_text(
            tmp_path / "f.jsonl",
            '{"code": "00123", "amount": 1.10, "day": "2024-02-29"}\n{"code": "東京", "amount": null}\n',
        )
    if file_type == "json":
        return write_text(
            tmp_path / "f.json", '[{"code": "00123", "amount": 1.10, "day": "2024-02-29"}, {"code": "東京"}]'
        )
    if file_type == "parquet":
        path = tmp_path / "f.parquet"
        table = pa.table(
            {
                "code": ["00123", "東京"],
                "amount": pa.array([Decimal("1.10"), None], pa.decimal128(5, 2)),
                "day": [dt.date(2024, 2, 29), None],
            }
        )
        pq.write_table(table, path)
        return path
    return write_xlsx(
        tmp_path / "f.xlsx", [["code", "amount", "day"], ["00123", "1.10", dt.datetime(2024, 2, 29)], ["東京"]]
    )


@pytest.mark.parametrize("file_type", ["excel", "json", "jsonl", "parquet"])
def test_structured_file_loads_into_the_staging_table(
    warehouse: psycopg.Connection, items: str, tmp_path: Path, file_type: str
) -> None:
    path = _structured_file(tmp_path, file_type)

    result = load_files(
        warehouse,
        table=items,
        files=[path],
        parser=get_parser(file_type),
        options={},
        column_mapping=None,
        run_id="run-1",
    )

    assert result.rows_loaded == 2
    rows = warehouse.execute(
        sql.SQL("SELECT * FROM {} ORDER BY code").format(sql.Identifier(*items.split(".")))
    ).fetchall()
    assert rows == [("00123", Decimal("1.10"), dt.date(2024, 2, 29), "run-1"), ("東京", None, None, "run-1")]


def test_excel_formula_far_into_a_large_sheet_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_code.engine import parsers_excel

    monkeypatch.setattr(parsers_excel, "BLOCK_SIZE", 4 << 10)
    rows = [["id", "v"], *[[n, f"value {n}"] for n in range(3_000)], [3_000, "=A3001+1"]]
    path = write_xlsx(tmp_path / "big.xlsx", rows)

    with pytest.raises(
        FileFormatError, match=r"^big\.xlsx: sheet 'Sheet1' has formulas with no saved result in cell\(s\) B3002;"
    ):
        get_parser("excel")(path, {})


def test_excel_sheet_written_with_namespace_prefixes_is_read_and_checked(tmp_path: Path) -> None:
    source = write_xlsx(tmp_path / "src.xlsx", [["id", "total"], [1, "=A2*2"], [2, 4]])

    def prefix_every_tag(data: bytes) -> bytes:  # how some .NET writers save: <x:row>, <x:c>, <x:f>
        data = re.sub(rb"<(/?)(?!\?)([A-Za-z]+[ />])", rb"<\1x:\2", data)
        return data.replace(b'xmlns="http://schemas', b'xmlns:x="http://schemas', 1)

    path = rewrite_sheet(source, tmp_path / "prefixed.xlsx", prefix_every_tag)
    with pytest.raises(FileFormatError) as caught:
        get_parser("excel")(path, {})
    assert "cell(s) B2;" in caught.value.message

    saved = rewrite_sheet(path, tmp_path / "saved.xlsx", lambda data: data.replace(b"<x:v />", b"<x:v>2</x:v>"))
    assert parse(saved, "excel") == (("id", "total"), [{"id": "1", "total": "2"}, {"id": "2", "total": "4"}])
