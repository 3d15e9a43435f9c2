"""Delimited-file parsers: what a file's bytes become as columns and rows (no database needed)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_code.engine import parsers
from dagster_code.engine.errors import ConfigError, FileFormatError
from dagster_code.engine.parsers import get_parser, registered_parsers


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    return write_bytes(path, text.encode(encoding))


def parse(path: Path, file_type: str = "csv", **options) -> tuple[tuple[str, ...], list[dict]]:
    """Column names and every row as a dict, read through the registered parser."""
    parsed = get_parser(file_type)(path, options)
    rows = [row for batch in parsed.batches for row in batch.to_pylist()]
    return parsed.columns, rows


# ------------------------------------------------------------------------------------ registry


def test_registry_offers_csv_tsv_and_psv() -> None:
    assert {"csv", "tsv", "psv"} <= set(registered_parsers())


def test_custom_file_type_uses_the_named_parser() -> None:
    assert get_parser("custom", "tsv") is get_parser("tsv")


REGISTERED = "csv, excel, fixed_width, generic_configurable_parser, json, jsonl, parquet, psv, tsv"


def test_unknown_parser_is_a_config_error_listing_the_registered_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        get_parser("xlsx")
    assert caught.value.message == f"No parser is registered for 'xlsx'. Registered parsers: {REGISTERED}."


def test_unknown_custom_parser_is_refused_before_any_file_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []
    monkeypatch.setattr("builtins.open", lambda *args, **kwargs: opened.append(args))
    monkeypatch.setattr("io.open", lambda *args, **kwargs: opened.append(args))

    with pytest.raises(ConfigError) as caught:
        get_parser("custom", "nope")

    assert caught.value.message == f"No parser is registered for 'nope'. Registered parsers: {REGISTERED}."
    assert opened == []


def test_custom_file_type_without_a_parser_function_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        get_parser("custom", None)
    assert caught.value.message == (
        f"The import's file type is custom but it names no parser function. Registered parsers: {REGISTERED}."
    )


# ------------------------------------------------------------------------------------- quoting


def test_quoted_fields_keep_commas_and_doubled_quotes(tmp_path: Path) -> None:
    path = write_text(tmp_path / "q.csv", 'id,name\n1,"Smith, John"\n2,"say ""hi"""\n3,"""quoted"""\n')

    assert parse(path) == (
        ("id", "name"),
        [{"id": "1", "name": "Smith, John"}, {"id": "2", "name": 'say "hi"'}, {"id": "3", "name": '"quoted"'}],
    )


def test_quoted_fields_keep_embedded_newlines(tmp_path: Path) -> None:
    path = write_text(tmp_path / "n.csv", 'id,note\n1,"first line\nsecond line"\n2,"a\r\nb"\n3,plain\n')

    assert parse(path)[1] == [
        {"id": "1", "note": "first line\nsecond line"},
        {"id": "2", "note": "a\r\nb"},
        {"id": "3", "note": "plain"},
    ]


def test_empty_field_is_null_and_quoted_empty_field_is_empty_string(tmp_path: Path) -> None:
    path = write_text(tmp_path / "e.csv", 'id,name\n1,\n2,""\n')

    assert parse(path)[1] == [{"id": "1", "name": None}, {"id": "2", "name": ""}]


def test_windows_line_endings_are_not_part_of_values(tmp_path: Path) -> None:
    path = write_text(tmp_path / "crlf.csv", "id,name\r\n1,a\r\n2,b\r\n")

    assert parse(path) == (("id", "name"), [{"id": "1", "name": "a"}, {"id": "2", "name": "b"}])


def test_header_names_are_trimmed(tmp_path: Path) -> None:
    path = write_text(tmp_path / "h.csv", " id , name \n1,a\n")

    assert parse(path)[0] == ("id", "name")


# ---------------------------------------------------------------------- encodings and delimiters


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "bom.csv", b"\xef\xbb\xbfid,name\n1,a\n")

    assert parse(path) == (("id", "name"), [{"id": "1", "name": "a"}])


def test_unicode_values_are_read_exactly(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.csv", "id,name\n1,Zoë Crème brûlée\n2,東京都\n3,🚀✨\n")

    assert [row["name"] for row in parse(path)[1]] == ["Zoë Crème brûlée", "東京都", "🚀✨"]


@pytest.mark.parametrize(("file_type", "separator"), [("tsv", "\t"), ("psv", "|")])
def test_tsv_and_psv_split_on_their_own_separator(tmp_path: Path, file_type: str, separator: str) -> None:
    path = write_text(tmp_path / f"f.{file_type}", f"id{separator}name\n1{separator}a,b\n")

    assert parse(path, file_type) == (("id", "name"), [{"id": "1", "name": "a,b"}])


def test_delimiter_option_overrides_the_default(tmp_path: Path) -> None:
    path = write_text(tmp_path / "semi.csv", "id;amount\n1;3,50\n")

    assert parse(path, delimiter=";") == (("id", "amount"), [{"id": "1", "amount": "3,50"}])


def test_skip_rows_skips_lines_before_the_header(tmp_path: Path) -> None:
    path = write_text(tmp_path / "report.csv", "Sales report\nExported 2024-01-01\nid,name\n1,a\n")

    assert parse(path, skip_rows=2) == (("id", "name"), [{"id": "1", "name": "a"}])


def test_latin1_file_reads_with_the_encoding_option(tmp_path: Path) -> None:
    path = write_text(tmp_path / "latin.csv", "id,café\n1,crème\n", encoding="latin-1")

    assert parse(path, encoding="latin-1") == (("id", "café"), [{"id": "1", "café": "crème"}])


def test_latin1_file_without_the_encoding_option_is_a_format_error(tmp_path: Path) -> None:
    path = write_text(tmp_path / "latin.csv", "id,name\n1,crème\n", encoding="latin-1")

    with pytest.raises(FileFormatError) as caught:
        parse(path)
    assert caught.value.message == "latin.csv: the file is not valid utf-8 text."
    assert '{"encoding": "latin-1"}' in caught.value.hint


@pytest.mark.parametrize("block_size", [4 << 20, 16 << 10], ids=["first-block", "later-block"])
def test_latin1_byte_far_into_a_file_is_a_format_error_about_the_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_size: int
) -> None:
    monkeypatch.setattr(parsers, "BLOCK_SIZE", block_size)
    ascii_rows = "".join(f"{i},name {i}\n" for i in range(20_000))
    path = write_bytes(tmp_path / "big.csv", ("id,name\n" + ascii_rows).encode() + "20000,crème\n".encode("latin-1"))

    with pytest.raises(FileFormatError) as caught:
        parse(path)
    assert caught.value.message == "big.csv: the file is not valid utf-8 text."
    assert "encoding" in caught.value.hint


# ------------------------------------------------------------------------------------- options


def test_unknown_option_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = write_text(tmp_path / "a.csv", "id\n1\n")

    with pytest.raises(ConfigError) as caught:
        parse(path, sheet="Sheet1")
    assert caught.value.message == (
        "Unknown option(s) sheet for a delimited file; "
        "allowed: delimiter, encoding, null_values, quote_char, skip_rows."
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ";;"}, "'delimiter' must be a single character, got ';;'."),
        ({"quote_char": ""}, "'quote_char' must be a single character, got ''."),
        ({"encoding": "klingon"}, "'klingon' is not a known text encoding."),
        ({"skip_rows": -1}, "'skip_rows' must be a whole number of lines to skip before the header."),
        (
            {"null_values": "NA"},
            "'null_values' must be a list of texts to load as NULL, e.g. [\"NA\", \"n/a\"], got 'NA'.",
        ),
        (
            {"null_values": [None]},
            '\'null_values\' must be a list of texts to load as NULL, e.g. ["NA", "n/a"], got [None].',
        ),
    ],
)
def test_invalid_option_values_are_config_errors(tmp_path: Path, options: dict, message: str) -> None:
    path = write_text(tmp_path / "a.csv", "id\n1\n")

    with pytest.raises(ConfigError) as caught:
        parse(path, **options)
    assert caught.value.message == message


# --------------------------------------------------------------------------------- file shapes


def test_zero_byte_file_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "nothing.csv", b"")

    with pytest.raises(FileFormatError) as caught:
        parse(path)
    assert caught.value.message == "nothing.csv is empty: expected a header row with column names."


def test_file_of_blank_lines_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "blank.csv", "\n\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path)
    assert caught.value.message == "blank.csv is empty: expected a header row with column names."


@pytest.mark.parametrize("text", ["id,name\n", "id,name", "id,name\r\n"], ids=["lf", "no-newline", "crlf"])
def test_header_only_file_has_columns_and_no_rows(tmp_path: Path, text: str) -> None:
    path = write_text(tmp_path / "header.csv", text)

    assert parse(path) == (("id", "name"), [])


def test_repeated_header_name_is_a_format_error(tmp_path: Path) -> None:
    path = write_text(tmp_path / "dup.csv", "id,name,id\n1,a,2\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path)
    assert caught.value.message == "dup.csv: the header repeats column(s) id."


def test_unnamed_header_column_is_a_format_error(tmp_path: Path) -> None:
    path = write_text(tmp_path / "gap.csv", "id,,name\n1,x,a\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path)
    assert caught.value.message == "gap.csv: header column(s) 2 have no name."


# -------------------------------------------------------------------------------- ragged rows


def test_row_with_an_extra_value_is_refused_naming_the_data_row(tmp_path: Path) -> None:
    path = write_text(tmp_path / "sales.csv", "a,b,c,d,e,f\n" + "1,2,3,4,5,6\n" * 2 + "1,2,3,4,5\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path)

    assert caught.value.message == "sales.csv: data row 3 has 5 values but the header has 6 columns."
    assert caught.value.detail == "row text: 1,2,3,4,5"


def test_short_and_long_rows_are_refused_never_padded_or_cut(tmp_path: Path) -> None:
    short = write_text(tmp_path / "short.csv", "id,name\n1,a\n2\n")
    wide = write_text(tmp_path / "wide.csv", "id,name\n1,a\n2,b,surplus\n")

    with pytest.raises(FileFormatError) as first:
        parse(short)
    with pytest.raises(FileFormatError) as second:
        parse(wide)

    assert first.value.message == "short.csv: data row 2 has 1 value but the header has 2 columns."
    assert second.value.message == "wide.csv: data row 2 has 3 values but the header has 2 columns."


def test_ragged_row_number_counts_data_rows_not_lines(tmp_path: Path) -> None:
    text = 'Exported today\nid,note\n\n1,"two\nlines"\n2,ok\n3,ok,extra\n'
    path = write_text(tmp_path / "notes.csv", text)

    with pytest.raises(FileFormatError) as caught:
        parse(path, skip_rows=1)

    assert caught.value.message == "notes.csv: data row 3 has 3 values but the header has 2 columns."


def test_ragged_row_far_into_a_file_is_numbered_after_earlier_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsers, "BLOCK_SIZE", 16 << 10)
    path = write_text(tmp_path / "big.csv", "id,name\n" + "".join(f"{i},n{i}\n" for i in range(1, 20_001)) + "x\n")
    parsed = get_parser("csv")(path, {})
    batches = 0

    with pytest.raises(FileFormatError) as caught:
        for _ in parsed.batches:
            batches += 1

    assert batches > 1
    assert caught.value.message == "big.csv: data row 20001 has 1 value but the header has 2 columns."


def test_a_one_megabyte_field_loads_whole(tmp_path: Path) -> None:
    big = "x" * (1 << 20)
    path = write_text(tmp_path / "big.csv", f'id,blob,quoted\n1,{big},"{big},\n{big}"\n2,small,s\n')

    rows = parse(path)[1]

    assert [(row["id"], len(row["blob"]), len(row["quoted"])) for row in rows] == [
        ("1", 1 << 20, 2 * (1 << 20) + 2),
        ("2", 5, 1),
    ]


# -------------------------------------------------------------------------------- NULL markers


def test_only_the_empty_field_is_null_by_default(tmp_path: Path) -> None:
    path = write_text(tmp_path / "n.csv", 'id,v\n1,NA\n2,null\n3,N/A\n4,NaN\n5,\n6,""\n7,NULL\n')

    assert [row["v"] for row in parse(path)[1]] == ["NA", "null", "N/A", "NaN", None, "", "NULL"]


def test_null_values_option_makes_those_texts_null_quoted_or_not(tmp_path: Path) -> None:
    path = write_text(tmp_path / "n.csv", 'id,v,w\n1,NA,"NA"\n2,n/a,na\n3,,""\n4,x,NA \n')

    rows = parse(path, null_values=["NA", "n/a"])[1]

    assert rows == [
        {"id": "1", "v": None, "w": None},
        {"id": "2", "v": None, "w": "na"},
        {"id": "3", "v": None, "w": ""},
        {"id": "4", "v": "x", "w": "NA "},
    ]


def test_null_values_can_include_the_quoted_empty_string(tmp_path: Path) -> None:
    path = write_text(tmp_path / "n.csv", 'id,v\n1,""\n2,x\n')

    assert [row["v"] for row in parse(path, null_values=[""])[1]] == [None, "x"]


# ---------------------------------------------------------------------------- byte-order marks


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
    ],
    ids=["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"],
)
def test_byte_order_mark_sets_the_encoding(tmp_path: Path, bom: bytes, codec: str) -> None:
    text = "id,name\r\n1,Zoë\r\n2,東京 🚀\r\n"
    path = write_bytes(tmp_path / "excel-export.csv", bom + text.encode(codec))

    assert parse(path) == (("id", "name"), [{"id": "1", "name": "Zoë"}, {"id": "2", "name": "東京 🚀"}])


def test_utf16_file_with_a_ragged_row_names_the_data_row(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "u.csv", "id,name\n1,a\n2,b,c\n".encode("utf-16"))

    with pytest.raises(FileFormatError) as caught:
        parse(path)

    assert caught.value.message == "u.csv: data row 2 has 3 values but the header has 2 columns."


def test_explicit_encoding_overrides_what_the_first_bytes_suggest(tmp_path: Path) -> None:
    path = write_text(tmp_path / "latin.csv", "ÿþid,name\n1,crème\n", encoding="latin-1")

    assert parse(path, encoding="latin-1") == (("ÿþid", "name"), [{"ÿþid": "1", "name": "crème"}])


def test_bytes_invalid_for_the_detected_encoding_are_a_format_error(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "odd.csv", "id,name\n1,a\n".encode("utf-16") + b"\x00")

    with pytest.raises(FileFormatError) as caught:
        parse(path)

    assert caught.value.message == "odd.csv: the file is not valid utf-16 text."
    assert "encoding" in caught.value.hint


# ---------------------------------------------------------------------------------- file kinds


def _xlsx_bytes() -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.append(["id"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": [1]}), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"id,name\n1,a\n", "text"),
        (b"[id],name\n1,a\n", "text"),
        (b"{id},name\n", "text"),
        (b'  \n[{"id": 1}]', "json"),
        (b'{"id": 1}\n{"id": 2}\n', "json"),
        ("\ufeff[]".encode(), "json"),
        (b"PAR1....", "parquet"),
        (gzip.compress(b"id\n1\n", mtime=0), "gzip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "xls"),
    ],
)
def test_sniff_kind_judges_by_the_first_bytes(tmp_path: Path, data: bytes, kind: str) -> None:
    assert parsers.sniff_kind(write_bytes(tmp_path / "f.csv", data)) == kind


def test_sniff_kind_tells_a_workbook_from_another_zip(tmp_path: Path) -> None:
    other = tmp_path / "other.zip"
    import zipfile

    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("data.csv", "id\n1\n")

    assert parsers.sniff_kind(write_bytes(tmp_path / "book.csv", _xlsx_bytes())) == "excel"
    assert parsers.sniff_kind(other) == "zip"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "report.csv",
            _xlsx_bytes(),
            "report.csv looks like an Excel workbook, not a CSV file; "
            "set the import's file type to excel (or save the sheet as CSV).",
        ),
        (
            "report.csv",
            _parquet_bytes(),
            "report.csv looks like a Parquet file, not a CSV file; set the import's file type to parquet.",
        ),
        (
            "api.csv",
            b'[{"id": 1}]',
            "api.csv looks like a JSON file, not a CSV file; "
            "set the import's file type to json (or jsonl for one object per line).",
        ),
        (
            "old.tsv",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
            "old.tsv looks like an old Excel workbook (.xls), not a TSV file; "
            "save it as .xlsx and set the import's file type to excel.",
        ),
    ],
    ids=["xlsx", "parquet", "json", "xls"],
)
def test_file_of_another_kind_is_refused_plainly(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = write_bytes(tmp_path / name, data)

    with pytest.raises(FileFormatError) as caught:
        parse(path, "tsv" if name.endswith(".tsv") else "csv")

    assert caught.value.message == message


def test_gzip_compressed_csv_is_read_transparently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsers, "BLOCK_SIZE", 16 << 10)
    text = "id,name\n" + "".join(f"{i},Zoë {i}\n" for i in range(20_000))
    path = write_bytes(tmp_path / "sales.csv", gzip.compress(text.encode()))

    columns, rows = parse(path)

    assert columns == ("id", "name")
    assert len(rows) == 20_000
    assert rows[-1] == {"id": "19999", "name": "Zoë 19999"}


def test_gzip_compressed_utf16_csv_is_decoded_by_its_byte_order_mark(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "u.csv.gz", gzip.compress("id,name\n1,東京\n".encode("utf-16")))

    assert parse(path) == (("id", "name"), [{"id": "1", "name": "東京"}])


def test_cut_short_gzip_file_is_a_format_error(tmp_path: Path) -> None:
    data = gzip.compress(("id,name\n" + "".join(f"{i},n{i}\n" for i in range(50_000))).encode())
    path = write_bytes(tmp_path / "cut.csv", data[: len(data) // 2])

    with pytest.raises(FileFormatError) as caught:
        parse(path)

    assert caught.value.message == "cut.csv is gzip-compressed but cannot be decompressed (it may be cut short)."


def test_row_longer_than_two_read_blocks_is_read_whole_without_repeating_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsers, "BLOCK_SIZE", 16 << 10)
    before = "".join(f"{i},n{i}\n" for i in range(5_000))
    after = "".join(f"{i},n{i}\n" for i in range(5_001, 6_000))
    path = write_text(tmp_path / "long.csv", f'id,name\n{before}5000,"{"y" * (200 << 10)}"\n{after}')

    rows = parse(path)[1]

    assert [int(row["id"]) for row in rows] == list(range(6_000))
    assert len(rows[5_000]["name"]) == 200 << 10


def test_row_longer_than_the_largest_read_block_is_a_format_error_about_quotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsers, "BLOCK_SIZE", 16 << 10)
    monkeypatch.setattr(parsers, "MAX_BLOCK_SIZE", 64 << 10)
    path = write_text(tmp_path / "open.csv", 'id,name\n1,"never closed\n' + "2,b\n" * 100_000)

    with pytest.raises(FileFormatError) as caught:
        parse(path)

    assert caught.value.message == "open.csv: a row is longer than 0.0625 MB, too long to read."
    assert "quote" in caught.value.hint
