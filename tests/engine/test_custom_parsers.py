"""Custom parsers: registered by name (the registry is the whitelist), and fixed_width's columns and errors."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import openpyxl
import psycopg
import pytest
from psycopg import sql

from dagster_code.engine import custom_parsers, parsers
from dagster_code.engine.errors import ConfigError, FileFormatError
from dagster_code.engine.loader import load_files
from dagster_code.engine.parsers import get_parser, registered_parsers

LAYOUT = [
    {"name": "id", "start": 1, "width": 5},
    {"name": "city", "start": 6, "width": 10},
    {"name": "amount", "start": 16, "width": 8},
]


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def parse(path: Path, **options) -> tuple[tuple[str, ...], list[dict]]:
    parsed = get_parser("custom", "fixed_width")(path, {"columns": LAYOUT, **options})
    return parsed.columns, [row for batch in parsed.batches for row in batch.to_pylist()]


# ------------------------------------------------------------------------------- the registry


def test_custom_parsers_are_registered_when_the_parsers_are_imported() -> None:
    assert "fixed_width" in registered_parsers()
    assert get_parser("custom", "fixed_width") is custom_parsers.parse_fixed_width


@pytest.mark.parametrize("name", ["os.system", "dagster_code.engine.custom_parsers.parse_fixed_width", "__import__"])
def test_only_registered_names_resolve_to_a_parser(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"^No parser is registered for '{name}'\. Registered parsers: "):
        get_parser("custom", name)


def test_a_name_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="already registered"):
        parsers.register_parser("fixed_width")(custom_parsers.parse_fixed_width)


# -------------------------------------------------------------------------------- fixed width


def test_fixed_width_values_are_trimmed_text_and_blank_is_null(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "f.txt",
        "00123Zoë          1.50\r\n\r\n00007東京都        -20\r\n   42             \r\n8    Oslo    \r\n",
    )

    assert parse(path) == (
        ("id", "city", "amount"),
        [
            {"id": "00123", "city": "Zoë", "amount": "1.50"},
            {"id": "00007", "city": "東京都", "amount": "-20"},
            {"id": "42", "city": None, "amount": None},
            {"id": "8", "city": "Oslo", "amount": None},
        ],
    )


def test_fixed_width_skips_header_lines_and_ignores_characters_after_the_last_column(tmp_path: Path) -> None:
    path = write_text(tmp_path / "f.txt", "ID   CITY      AMOUNT\n-----\n1    Rome      10      filler\n")

    assert parse(path, skip_rows=2)[1] == [{"id": "1", "city": "Rome", "amount": "10"}]


def test_fixed_width_columns_may_be_listed_in_any_order_with_gaps(tmp_path: Path) -> None:
    path = write_text(tmp_path / "f.txt", "AB--CD\n")
    layout = [{"name": "second", "start": 5, "width": 2}, {"name": "first", "start": 1, "width": 2}]

    parsed = get_parser("custom", "fixed_width")(path, {"columns": layout})

    assert parsed.columns == ("second", "first")
    assert [row for batch in parsed.batches for row in batch.to_pylist()] == [{"second": "CD", "first": "AB"}]


def test_fixed_width_null_values_and_encoding(tmp_path: Path) -> None:
    path = write_text(tmp_path / "f.txt", "1    Crème     n/a\n2    NA        5\n", "latin-1")

    rows = parse(path, encoding="latin-1", null_values=["n/a"])[1]

    assert rows == [{"id": "1", "city": "Crème", "amount": None}, {"id": "2", "city": "NA", "amount": "5"}]


def test_fixed_width_utf16_with_a_byte_order_mark_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "f.txt.gz"
    path.write_bytes(gzip.compress("1    Zoë       2\n".encode("utf-16")))

    assert parse(path)[1] == [{"id": "1", "city": "Zoë", "amount": "2"}]


def test_fixed_width_is_streamed_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsers, "BLOCK_SIZE", 4 << 10)
    path = write_text(tmp_path / "f.txt", "".join(f"{i:05d}city{i % 7:<6}{i:>8}\n" for i in range(10_000)))

    parsed = get_parser("custom", "fixed_width")(path, {"columns": LAYOUT})
    batches = list(parsed.batches)

    assert len(batches) > 10
    rows = [row for batch in batches for row in batch.to_pylist()]
    assert len(rows) == 10_000
    assert rows[9_999] == {"id": "09999", "city": "city3", "amount": "9999"}


def test_fixed_width_wrong_encoding_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "f.txt", "1    Crème     1\n", "latin-1")

    with pytest.raises(FileFormatError) as caught:
        parse(path)

    assert caught.value.message == "f.txt: the file is not valid utf-8 text."


def test_fixed_width_refuses_an_excel_workbook(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    buffer = io.BytesIO()
    workbook.save(buffer)
    path = tmp_path / "f.txt"
    path.write_bytes(buffer.getvalue())

    with pytest.raises(FileFormatError) as caught:
        parse(path)

    assert caught.value.message == (
        "f.txt looks like an Excel workbook, not a fixed-width text file; "
        "set the import's file type to excel (or save the sheet as CSV)."
    )


def test_fixed_width_empty_file_is_refused(tmp_path: Path) -> None:
    path = write_text(tmp_path / "f.txt", "")

    with pytest.raises(FileFormatError) as caught:
        parse(path)

    assert caught.value.message == "f.txt is empty: expected lines of fixed-width columns."


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {},
            'The fixed_width parser needs \'columns\', e.g. {"columns": [{"name": "id", "start": 1, "width": 5}, '
            '{"name": "city", "start": 6, "width": 20}]}.',
        ),
        (
            {"columns": LAYOUT, "delimiter": ","},
            "Unknown option(s) delimiter for the fixed_width parser; "
            "allowed: columns, encoding, null_values, skip_rows.",
        ),
        (
            {"columns": [{"name": "id", "start": 0, "width": 5}]},
            "Column id: 'start' must be a whole number from 1 (start counts from the line's first character, 1), "
            "got 0.",
        ),
        (
            {"columns": [{"name": "id", "start": 1}]},
            "Column 1 of 'columns' must have exactly name, start and width, got {'name': 'id', 'start': 1}.",
        ),
        (
            {"columns": [{"name": "a", "start": 1, "width": 5}, {"name": "b", "start": 5, "width": 2}]},
            "Columns a (characters 1-5) and b (from character 5) overlap.",
        ),
        (
            {"columns": [{"name": "a", "start": 1, "width": 1}, {"name": "a", "start": 2, "width": 1}]},
            "'columns' repeats the name(s) a.",
        ),
        ({"columns": LAYOUT, "skip_rows": -1}, "'skip_rows' must be a whole number of lines to skip before the data."),
    ],
)
def test_fixed_width_bad_layout_is_a_config_error(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        get_parser("custom", "fixed_width")(tmp_path / "not-there.txt", options)

    assert caught.value.message == message


def test_fixed_width_file_loads_into_the_staging_table(
    warehouse: psycopg.Connection, warehouse_schema: str, tmp_path: Path
) -> None:
    table = sql.Identifier(warehouse_schema, "cities")
    warehouse.execute(
        sql.SQL("CREATE TABLE {} (id text, city text, amount numeric, dagster_run_id text)").format(table)
    )
    path = write_text(tmp_path / "f.txt", "00123Zoë          1.50\n00007                \n")

    result = load_files(
        warehouse,
        table=f"{warehouse_schema}.cities",
        files=[path],
        parser=get_parser("custom", "fixed_width"),
        options={"columns": LAYOUT},
        column_mapping=None,
        run_id="run-1",
    )

    assert result.rows_loaded == 2
    rows = warehouse.execute(sql.SQL("SELECT id, city, amount::text FROM {} ORDER BY id").format(table)).fetchall()
    assert rows == [("00007", None, None), ("00123", "Zoë", "1.50")]
