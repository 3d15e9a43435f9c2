"""The generic configurable parser: a delimited file described by read_options and pre_processing."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dagster_code.engine import parsers
from dagster_code.engine.errors import ConfigError, FileFormatError
from dagster_code.engine.loader import load_files
from dagster_code.engine.parsers import get_parser

REPORT = (
    "ACME Corp sales report\n"
    "Exported 2024-03-01; do not edit\n"
    "\n"
    "Date;Code;Amount\n"
    "2024-02-28;00123;1.234,56\n"
    "2024-02-29;1.234;-7,5\n"
    "Total;;1.227,06\n"
    "Printed by the export tool\n"
)
REPORT_CONFIG = {
    "read_options": {"delimiter": ";", "decimal": ",", "thousands": ".", "dtype": {"Amount": "numeric"}},
    "pre_processing": {"skip_header_until_string": "Date;Code", "skip_footer_until_string": "Total;"},
}


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def parse(path: Path, config: dict) -> tuple[tuple[str, ...], list[dict]]:
    parsed = get_parser("custom", "generic_configurable_parser")(path, config)
    return parsed.columns, [row for batch in parsed.batches for row in batch.to_pylist()]


# ---------------------------------------------------------------------------- pre-processing


def test_report_between_header_and_footer_markers_loads_with_numbers_normalised(tmp_path: Path) -> None:
    path = write_text(tmp_path / "report.csv", REPORT)

    assert parse(path, REPORT_CONFIG) == (
        ("Date", "Code", "Amount"),
        [
            {"Date": "2024-02-28", "Code": "00123", "Amount": "1234.56"},
            {"Date": "2024-02-29", "Code": "1.234", "Amount": "-7.5"},
        ],
    )


def test_footer_marker_on_the_header_line_does_not_cut_the_header(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.csv", "junk\nid,Total\n1,2\nTotal,3\n")
    config = {"pre_processing": {"skip_header_until_string": "id,", "skip_footer_until_string": "Total"}}

    assert parse(path, config) == (("id", "Total"), [{"id": "1", "Total": "2"}])


def test_footer_marker_alone_keeps_everything_before_it(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.csv", "id,v\r\n1,a\r\n2,b\r\n-- end of file --\r\n3,c\r\n")

    rows = parse(path, {"pre_processing": {"skip_footer_until_string": "-- end"}})[1]

    assert rows == [{"id": "1", "v": "a"}, {"id": "2", "v": "b"}]


def test_skiprows_counts_lines_from_the_header_marker_line(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.csv", "title\n== Data ==\n(units: EUR)\nid,v\n1,a\n")
    config = {"read_options": {"skiprows": 2}, "pre_processing": {"skip_header_until_string": "== Data"}}

    assert parse(path, config) == (("id", "v"), [{"id": "1", "v": "a"}])


def test_missing_header_marker_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "report.csv", "a,b\n1,2\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path, {"pre_processing": {"skip_header_until_string": "Date;"}})

    assert caught.value.message == (
        "report.csv: no line contains 'Date;', which marks the header line (pre_processing.skip_header_until_string)."
    )


def test_markers_are_found_far_into_a_streamed_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsers, "BLOCK_SIZE", 16 << 10)
    preamble = "".join(f"note {i}: nothing to load here\n" for i in range(5_000))
    rows = "".join(f"{i};{i},5\n" for i in range(30_000))
    path = write_text(tmp_path / "big.csv", preamble + "id;amount\n" + rows + "Total;0\n" + "trailer\n" * 1_000)
    config = {
        "read_options": {"delimiter": ";", "decimal": ",", "dtype": {"amount": "numeric"}},
        "pre_processing": {"skip_header_until_string": "id;amount", "skip_footer_until_string": "Total;"},
    }

    parsed = get_parser("custom", "generic_configurable_parser")(path, config)
    batches = list(parsed.batches)

    assert len(batches) > 1
    values = [row for batch in batches for row in batch.to_pylist()]
    assert len(values) == 30_000
    assert values[0] == {"id": "0", "amount": "0.5"}
    assert values[-1] == {"id": "29999", "amount": "29999.5"}


def test_ragged_row_after_a_header_marker_is_numbered_from_the_header(tmp_path: Path) -> None:
    path = write_text(tmp_path / "r.csv", "preamble\nmore\nid,v\n1,a\n2,b,c\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path, {"pre_processing": {"skip_header_until_string": "id,"}})

    assert caught.value.message == "r.csv: data row 2 has 3 values but the header has 2 columns."


def test_utf16_report_with_markers_is_decoded_by_its_byte_order_mark(tmp_path: Path) -> None:
    path = write_text(tmp_path / "report.csv", REPORT, encoding="utf-16")

    assert parse(path, REPORT_CONFIG)[1][0] == {"Date": "2024-02-28", "Code": "00123", "Amount": "1234.56"}


def test_gzip_compressed_report_with_markers(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(gzip.compress(REPORT.encode()))

    assert len(parse(path, REPORT_CONFIG)[1]) == 2


# ------------------------------------------------------------------------------ read_options


def test_latin1_file_with_quotechar_and_null_values(tmp_path: Path) -> None:
    path = write_text(tmp_path / "l.csv", "id|name|note\n1|'Crème | brûlée'|NA\n2|x|-\n3|NA|\n", "latin-1")
    config = {"read_options": {"delimiter": "|", "quotechar": "'", "encoding": "latin-1", "null_values": ["-"]}}

    assert parse(path, config)[1] == [
        {"id": "1", "name": "Crème | brûlée", "note": "NA"},
        {"id": "2", "name": "x", "note": None},
        {"id": "3", "name": "NA", "note": None},
    ]


def test_latin1_bytes_without_the_encoding_name_the_read_options_key(tmp_path: Path) -> None:
    path = write_text(tmp_path / "l.csv", "id,name\n1,crème\n", "latin-1")

    with pytest.raises(FileFormatError) as caught:
        parse(path, {})

    assert caught.value.message == "l.csv: the file is not valid utf-8 text."
    assert '{"read_options": {"encoding": "latin-1"}}' in caught.value.hint


def test_thousands_only_touches_number_columns(tmp_path: Path) -> None:
    path = write_text(tmp_path / "n.csv", 'code,qty,price\n"00,123","1,234","1,234.50"\n')
    config = {"read_options": {"thousands": ",", "dtype": {"code": "text", "qty": "integer", "price": "float"}}}

    assert parse(path, config)[1] == [{"code": "00,123", "qty": "1234", "price": "1234.50"}]


def test_dtype_naming_a_column_the_file_lacks_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "n.csv", "id,amount\n1,2\n")

    with pytest.raises(ConfigError) as caught:
        parse(path, {"read_options": {"dtype": {"Amount": "numeric"}}})

    assert caught.value.message == (
        "n.csv: 'read_options.dtype' names column(s) Amount that the file does not have (its columns: id, amount)."
    )


def test_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"PAR1\x00\x00")

    with pytest.raises(FileFormatError) as caught:
        parse(path, {})

    assert caught.value.message == (
        "data.csv looks like a Parquet file, not a delimited text file; set the import's file type to parquet."
    )


# ---------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"sep": ";"},
            "Unknown option(s) sep for the generic_configurable_parser; allowed: pre_processing, read_options.",
        ),
        (
            {"delimiter": ";"},
            'Unknown option(s) delimiter for the generic_configurable_parser (delimiter belong(s) under "read_options"'
            ' or "pre_processing"); allowed: pre_processing, read_options.',
        ),
        (
            {"read_options": {"sep": ";", "delimiter": ";"}},
            "Unknown option(s) read_options.sep for the generic_configurable_parser; allowed in read_options: "
            "decimal, delimiter, dtype, encoding, null_values, quotechar, skiprows, thousands.",
        ),
        (
            {"pre_processing": {"skip_footer": "Total"}},
            "Unknown option(s) pre_processing.skip_footer for the generic_configurable_parser; allowed in "
            "pre_processing: skip_footer_until_string, skip_header_until_string.",
        ),
        ({"read_options": []}, "'read_options' must be a JSON object, got []."),
        ({"read_options": {"delimiter": ";;"}}, "'read_options.delimiter' must be a single character, got ';;'."),
        ({"read_options": {"encoding": "klingon"}}, "'klingon' is not a known text encoding."),
        (
            {"read_options": {"skiprows": "2"}},
            "'read_options.skiprows' must be a whole number of lines to skip before the header.",
        ),
        (
            {"read_options": {"null_values": "NA"}},
            "'read_options.null_values' must be a list of texts to load as NULL, e.g. [\"NA\", \"n/a\"], got 'NA'.",
        ),
        (
            {"read_options": {"dtype": {"amount": "money"}}},
            "'read_options.dtype' gives column amount the type 'money'; "
            "allowed: text, integer, numeric, float, date, timestamp, boolean.",
        ),
        (
            {"read_options": {"decimal": ",", "dtype": {"code": "text"}}},
            "'read_options.decimal' and 'read_options.thousands' only change the columns 'dtype' marks as integer, "
            'numeric or float; mark the number columns, e.g. {"dtype": {"amount": "numeric"}}.',
        ),
        (
            {"read_options": {"decimal": ",", "thousands": ",", "dtype": {"a": "numeric"}}},
            "'read_options.thousands' and 'read_options.decimal' must be different characters.",
        ),
        (
            {"pre_processing": {"skip_header_until_string": "a\nb"}},
            "'pre_processing.skip_header_until_string' must be a non-empty text on one line, got 'a\\nb'.",
        ),
    ],
)
def test_bad_config_is_a_config_error_before_the_file_is_read(tmp_path: Path, config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        get_parser("custom", "generic_configurable_parser")(tmp_path / "not-there.csv", config)

    assert caught.value.message == message


# -------------------------------------------------------------------------- into PostgreSQL


def test_report_loads_into_typed_staging_columns(
    warehouse: psycopg.Connection, warehouse_schema: str, tmp_path: Path
) -> None:
    table = sql.Identifier(warehouse_schema, "sales")
    warehouse.execute(
        sql.SQL('CREATE TABLE {} ("Date" date, "Code" text, "Amount" numeric, dagster_run_id text)').format(table)
    )
    path = write_text(tmp_path / "report.csv", REPORT)

    result = load_files(
        warehouse,
        table=f"{warehouse_schema}.sales",
        files=[path],
        parser=get_parser("custom", "generic_configurable_parser"),
        options=REPORT_CONFIG,
        column_mapping=None,
        run_id="run-1",
    )

    assert result.rows_loaded == 2
    rows = warehouse.execute(sql.SQL('SELECT "Code", "Amount" FROM {} ORDER BY "Date"').format(table)).fetchall()
    assert rows == [("00123", Decimal("1234.56")), ("1.234", Decimal("-7.5"))]
