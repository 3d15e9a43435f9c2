"""Delimited-file parsers: what a file's bytes become as columns and rows (no database needed)."""

from __future__ import annotations

from pathlib import Path

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


def test_unknown_parser_is_a_config_error_listing_the_registered_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        get_parser("xlsx")
    assert caught.value.message.startswith("No parser is registered for 'xlsx'.")
    assert caught.value.message.endswith("Registered parsers: csv, excel, json, jsonl, parquet, psv, tsv.")


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
    assert caught.value.message.startswith("Unknown option(s) sheet for a delimited file;")
    assert "delimiter, encoding, quote_char, skip_rows" in caught.value.message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ";;"}, "'delimiter' must be a single character, got ';;'."),
        ({"quote_char": ""}, "'quote_char' must be a single character, got ''."),
        ({"encoding": "klingon"}, "'klingon' is not a known text encoding."),
        ({"skip_rows": -1}, "'skip_rows' must be a whole number of lines to skip before the header."),
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


def test_row_with_an_extra_field_is_a_format_error_quoting_the_row(tmp_path: Path) -> None:
    path = write_text(tmp_path / "wide.csv", "id,name\n1,a\n2,b,surplus\n")

    with pytest.raises(FileFormatError) as caught:
        parse(path)
    assert caught.value.message == "wide.csv: Expected 2 columns, got 3: 2,b,surplus"
