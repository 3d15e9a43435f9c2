"""Loading files into a staging table: exact rows in, all or nothing, clear errors."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dagster_code.engine import copy_stream, parsers
from dagster_code.engine.errors import ConfigError, FileFormatError, LoadError, SchemaMismatchError
from dagster_code.engine.loader import LoadResult, load_files
from dagster_code.engine.parsers import get_parser


def create_table(conn: psycopg.Connection, table: str, columns: dict[str, str], run_id_column: bool = True) -> None:
    """CREATE TABLE schema.name (col type, ..., dagster_run_id text)."""
    if run_id_column:
        columns = {**columns, "dagster_run_id": "text"}
    definitions = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind in columns.items()
    )
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(*table.split(".")), definitions))


def insert_rows(conn: psycopg.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(*table.split(".")),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    with conn.cursor() as cursor:
        cursor.executemany(statement, rows)


def table_rows(conn: psycopg.Connection, table: str, columns: str = "*") -> list[tuple]:
    """Every row, sorted by all columns (NULLs last) so comparisons are exact."""
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(columns), sql.Identifier(*table.split(".")))
    return sorted(conn.execute(query).fetchall(), key=lambda row: [(value is None, value) for value in row])


def write_file(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def load(
    conn: psycopg.Connection, table: str, *files: Path, file_type: str = "csv", run_id: str = "run-1", **kwargs
) -> LoadResult:
    """``load_files`` with the registered parser for ``file_type``; no options or mapping unless given."""
    kwargs = {"options": {}, "column_mapping": None, **kwargs}
    return load_files(conn, table=table, files=list(files), parser=get_parser(file_type), run_id=run_id, **kwargs)


@pytest.fixture
def people(warehouse: psycopg.Connection, warehouse_schema: str) -> str:
    """A staging table ``people(id integer, name text, dagster_run_id text)`` holding two rows of run-0."""
    table = f"{warehouse_schema}.people"
    create_table(warehouse, table, {"id": "integer", "name": "text"})
    insert_rows(warehouse, table, ["id", "name", "dagster_run_id"], [(100, "Ann", "run-0"), (101, "Bob", "run-0")])
    return table


BEFORE = [(100, "Ann", "run-0"), (101, "Bob", "run-0")]


# ------------------------------------------------------------------------------ values loaded


def test_typed_columns_load_exact_values(warehouse: psycopg.Connection, warehouse_schema: str, tmp_path: Path) -> None:
    table = f"{warehouse_schema}.orders"
    kinds = {
        "id": "integer",
        "amount": "numeric(12,4)",
        "ordered_on": "date",
        "paid_at": "timestamptz",
        "paid": "boolean",
    }
    create_table(warehouse, table, kinds)
    path = write_file(
        tmp_path / "orders.csv",
        "id,amount,ordered_on,paid_at,paid\n"
        "1,12345.6789,2024-02-29,2024-03-01T12:30:00+02:00,true\n"
        "-2,-0.1000,1999-12-31,2024-03-01 23:59:59.5+00,f\n"
        "3,,,,\n",
    )

    result = load(warehouse, table, path)

    assert result.rows_loaded == 3
    assert table_rows(warehouse, table) == [
        (
            -2,
            Decimal("-0.1000"),
            dt.date(1999, 12, 31),
            dt.datetime(2024, 3, 1, 23, 59, 59, 500000, dt.UTC),
            False,
            "run-1",
        ),
        (1, Decimal("12345.6789"), dt.date(2024, 2, 29), dt.datetime(2024, 3, 1, 10, 30, tzinfo=dt.UTC), True, "run-1"),
        (3, None, None, None, None, "run-1"),
    ]


def test_empty_field_is_null_but_quoted_empty_string_stays_empty(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "blanks.csv", 'id,name\n1,\n2,""\n,Cy\n')

    load(warehouse, people, path)

    assert table_rows(warehouse, people) == [(1, None, "run-1"), (2, "", "run-1"), *BEFORE, (None, "Cy", "run-1")]


def test_quoting_newlines_and_unicode_round_trip_into_the_table(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    names = ["Smith, John", 'say "hi"', "line one\nline two", "Zoë Crème brûlée", "東京都", "🚀✨"]
    body = "".join(f'{i},"{name.replace(chr(34), chr(34) * 2)}"\n' for i, name in enumerate(names, start=1))
    path = write_file(tmp_path / "tricky.csv", "\ufeffid,name\n" + body)

    load(warehouse, people, path)

    assert table_rows(warehouse, people, "id, name") == [*enumerate(names, start=1), (100, "Ann"), (101, "Bob")]


@pytest.mark.parametrize(("file_type", "separator"), [("tsv", "\t"), ("psv", "|")])
def test_tsv_and_psv_files_load(
    warehouse: psycopg.Connection, people: str, tmp_path: Path, file_type: str, separator: str
) -> None:
    path = write_file(tmp_path / f"p.{file_type}", f"id{separator}name\n1{separator}Ann, Jr.\n")

    load(warehouse, people, path, file_type=file_type)

    assert table_rows(warehouse, people) == [(1, "Ann, Jr.", "run-1"), *BEFORE]


def test_latin1_file_loads_with_the_encoding_option(warehouse: psycopg.Connection, people: str, tmp_path: Path) -> None:
    path = write_file(tmp_path / "latin.csv", "id;name\n1;Zoë Crème\n", encoding="latin-1")

    load(warehouse, people, path, options={"encoding": "latin-1", "delimiter": ";"})

    assert table_rows(warehouse, people) == [(1, "Zoë Crème", "run-1"), *BEFORE]


def test_latin1_file_without_the_encoding_option_is_refused(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "latin.csv", "id,name\n1,Zoë\n", encoding="latin-1")

    with pytest.raises(FileFormatError) as caught:
        load(warehouse, people, path)

    assert caught.value.message == "latin.csv: the file is not valid utf-8 text."
    assert table_rows(warehouse, people) == BEFORE


def test_unknown_option_is_refused_before_loading(warehouse: psycopg.Connection, people: str, tmp_path: Path) -> None:
    path = write_file(tmp_path / "a.csv", "id,name\n1,a\n")

    with pytest.raises(ConfigError, match="Unknown option"):
        load(warehouse, people, path, options={"sep": ";"})

    assert table_rows(warehouse, people) == BEFORE


# ----------------------------------------------------------------------------- file shapes


def test_zero_byte_file_is_refused_naming_the_file(warehouse: psycopg.Connection, people: str, tmp_path: Path) -> None:
    path = write_file(tmp_path / "empty.csv", "")

    with pytest.raises(FileFormatError) as caught:
        load(warehouse, people, path)

    assert caught.value.message == "empty.csv is empty: expected a header row with column names."
    assert table_rows(warehouse, people) == BEFORE


@pytest.mark.parametrize("header", ["id,name\n", "id,name"], ids=["newline", "no-newline"])
def test_header_only_file_loads_zero_rows(
    warehouse: psycopg.Connection, people: str, tmp_path: Path, header: str
) -> None:
    path = write_file(tmp_path / "header.csv", header)

    result = load(warehouse, people, path)

    assert result.rows_loaded == 0
    assert [(Path(f.path).name, f.rows) for f in result.files] == [("header.csv", 0)]
    assert table_rows(warehouse, people) == BEFORE


# ---------------------------------------------------------------------------- refused values


def test_bad_value_names_file_row_and_column_and_leaves_rows_unchanged(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "people.csv", "id,name\n1,Ann\n2,Bob\nabc,Cy\n4,Di\n")

    with pytest.raises(LoadError) as caught:
        load(warehouse, people, path)

    assert caught.value.message == (
        f'people.csv: invalid input syntax for type integer: "abc" in data row 3, column id. '
        f"Nothing was loaded into {people}."
    )
    assert table_rows(warehouse, people) == BEFORE


@pytest.mark.parametrize(
    ("body", "row"),
    [
        ('1,"two\nlines"\n2,"three\nlong\nlines"\nx,Cy\n', 3),
        ('x,"two\nlines"\n2,Bob\n', 1),
        ('1,Ann\nx,"two\r\nlines"\n3,Cy\n', 2),
        ("".join(f'{i},"line\n{i}"\n' for i in range(1, 4321)) + "x,Cy\n", 4321),
    ],
    ids=["after-multiline-rows", "in-first-row", "in-multiline-row", "across-batches"],
)
def test_bad_value_near_multiline_values_reports_its_data_row(
    warehouse: psycopg.Connection, people: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, row: int
) -> None:
    monkeypatch.setattr(parsers, "BLOCK_SIZE", 16 << 10)
    path = write_file(tmp_path / "notes.csv", "id,name\n" + body)

    with pytest.raises(LoadError) as caught:
        load(warehouse, people, path)

    assert f'integer: "x" in data row {row}, column id.' in caught.value.message
    assert table_rows(warehouse, people) == BEFORE


def test_second_bad_file_leaves_nothing_from_the_first(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    good = write_file(tmp_path / "good.csv", "id,name\n1,Ann\n2,Bob\n")
    bad = write_file(tmp_path / "bad.csv", "id,name\n3,Cy\n4.5,Di\n")

    with pytest.raises(LoadError) as caught:
        load(warehouse, people, good, bad)

    assert caught.value.message.startswith('bad.csv: invalid input syntax for type integer: "4.5" in data row 2')
    assert table_rows(warehouse, people) == BEFORE


def test_failed_retry_keeps_the_runs_earlier_rows(warehouse: psycopg.Connection, people: str, tmp_path: Path) -> None:
    load(warehouse, people, write_file(tmp_path / "first.csv", "id,name\n1,Ann\n"), run_id="run-0")
    before = table_rows(warehouse, people)

    with pytest.raises(LoadError):
        load(warehouse, people, write_file(tmp_path / "retry.csv", "id,name\nnope,Ann\n"), run_id="run-0")

    assert table_rows(warehouse, people) == before == [(1, "Ann", "run-0")]


# ------------------------------------------------------------------------------ table shape


def test_table_without_a_run_id_column_is_refused(
    warehouse: psycopg.Connection, warehouse_schema: str, tmp_path: Path
) -> None:
    table = f"{warehouse_schema}.plain"
    create_table(warehouse, table, {"id": "integer"}, run_id_column=False)

    with pytest.raises(SchemaMismatchError) as caught:
        load(warehouse, table, write_file(tmp_path / "a.csv", "id\n1\n"))

    assert caught.value.message == f"The staging table {table} has no dagster_run_id column."
    assert "ADD COLUMN dagster_run_id text" in caught.value.hint
    assert table_rows(warehouse, table, "id, 1, 1") == []


def test_file_with_its_own_run_id_column_is_refused(warehouse: psycopg.Connection, people: str, tmp_path: Path) -> None:
    path = write_file(tmp_path / "sneaky.csv", "id,dagster_run_id\n1,run-0\n")

    with pytest.raises(SchemaMismatchError, match="sneaky.csv has a column named dagster_run_id"):
        load(warehouse, people, path)

    assert table_rows(warehouse, people) == BEFORE


def test_missing_table_is_a_config_error_naming_it(
    warehouse: psycopg.Connection, warehouse_schema: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(warehouse, f"{warehouse_schema}.nowhere", write_file(tmp_path / "a.csv", "id\n1\n"))

    assert caught.value.message == f"The table {warehouse_schema}.nowhere does not exist in the warehouse."


def test_table_name_that_is_not_an_identifier_is_refused(warehouse: psycopg.Connection, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(warehouse, "people; DROP TABLE x", write_file(tmp_path / "a.csv", "id\n1\n"))

    assert caught.value.message == "'people; DROP TABLE x' is not a valid table or column name."


def test_positional_column_mapping_renames_by_position(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "export.csv", "Customer Name,Customer No\nAnn,1\n")

    load(warehouse, people, path, column_mapping=["name", "id"])

    assert table_rows(warehouse, people) == [(1, "Ann", "run-1"), *BEFORE]


def test_positional_mapping_of_the_wrong_length_is_refused(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "export.csv", "a,b,c\n1,2,3\n")

    with pytest.raises(SchemaMismatchError) as caught:
        load(warehouse, people, path, column_mapping=["id", "name"])

    assert caught.value.message == "export.csv has 3 columns but the positional column mapping lists 2."
    assert table_rows(warehouse, people) == BEFORE


def test_column_mapping_by_name_renames_only_listed_columns(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "export.csv", "id,Full Name\n7,Ann\n")

    load(warehouse, people, path, column_mapping={"Full Name": "name"})

    assert table_rows(warehouse, people) == [(7, "Ann", "run-1"), *BEFORE]


def test_header_matches_table_columns_case_insensitively(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "upper.csv", "ID,Name\n7,Ann\n")

    load(warehouse, people, path)

    assert table_rows(warehouse, people) == [(7, "Ann", "run-1"), *BEFORE]


# -------------------------------------------------------------------------- retries and size


def test_retry_of_a_run_replaces_its_rows_and_keeps_other_runs(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "people.csv", "id,name\n1,Ann\n2,Bob\n3,Cy\n")

    first = load(warehouse, people, path, run_id="run-1")
    retry = load(warehouse, people, path, run_id="run-1")

    assert (first.replaced_rows, retry.replaced_rows, retry.rows_loaded) == (0, 3, 3)
    assert table_rows(warehouse, people) == [(1, "Ann", "run-1"), (2, "Bob", "run-1"), (3, "Cy", "run-1"), *BEFORE]


def test_large_file_streams_in_batches_with_progress(
    warehouse: psycopg.Connection, people: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsers, "BLOCK_SIZE", 256 << 10)
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("id,name\n")
        handle.writelines(f"{i},name {i}\n" for i in range(1, 200_001))
    calls: list[tuple[str, int]] = []

    result = load(warehouse, people, path, run_id="big", progress=lambda name, rows: calls.append((name, rows)))

    assert result.rows_loaded == 200_000
    assert len(calls) > 1
    assert calls[-1] == ("big.csv", 200_000)
    assert [rows for _, rows in calls] == sorted(rows for _, rows in calls)
    count_query = sql.SQL("SELECT count(*), sum(id), max(name) FROM {} WHERE dagster_run_id = 'big'").format(
        sql.Identifier(*people.split("."))
    )
    assert warehouse.execute(count_query).fetchone() == (200_000, 200_000 * 200_001 // 2, "name 99999")


# ------------------------------------------------------------ binary COPY, its CSV fallback, progress


def test_text_is_loaded_byte_for_byte(warehouse: psycopg.Connection, people: str, tmp_path: Path) -> None:
    names = ["00123", "\\N", "back\\slash", "tab\there", "  padded  ", "NULL", "a,b", "", "Zoë"]
    body = "".join(f'{i},"{name.replace(chr(34), chr(34) * 2)}"\n' for i, name in enumerate(names, start=1))
    path = write_file(tmp_path / "text.csv", "id,name\n" + body + "10,\n")

    load(warehouse, people, path)

    assert table_rows(warehouse, people, "id, name") == [
        *enumerate(names, start=1),
        (10, None),
        (100, "Ann"),
        (101, "Bob"),
    ]


def test_values_in_any_spelling_postgresql_accepts_load_as_it_reads_them(
    warehouse: psycopg.Connection, warehouse_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copy_stream, "CHUNK_ROWS", 1)  # one COPY per row, switching format as the rows do
    table = f"{warehouse_schema}.mixed"
    kinds = {
        "id": "integer",
        "amount": "numeric(8,2)",
        "day": "date",
        "at": "timestamp",
        "ok": "boolean",
        "note": "text",
    }
    create_table(warehouse, table, kinds)
    path = write_file(
        tmp_path / "mixed.csv",
        "id,amount,day,at,ok,note\n"
        "1,12.345,2024-02-29,2024-02-29 10:00:00.5,true,plain\n"
        ' +2 ,1e3,Feb 29 2024,2024-02-29T10:00,YES,""\n'
        "3,-.5,2024-03-01,2024-03-01 00:00:00,0,\n"
        "4,,,,,\n",
    )

    load(warehouse, table, path)

    assert table_rows(warehouse, table) == [
        (1, Decimal("12.35"), dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 10, 0, 0, 500000), True, "plain", "run-1"),
        (2, Decimal("1000.00"), dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 10, 0), True, "", "run-1"),
        (3, Decimal("-0.50"), dt.date(2024, 3, 1), dt.datetime(2024, 3, 1), False, None, "run-1"),
        (4, None, None, None, None, None, "run-1"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,1.00\n+2,2.00\n3,3.00\n4,1234567.89\n5,5.00\n", "numeric field overflow in data row 4, column amount."),
        ("1,1.00\n2,2.00\n3,3 .00\n", 'invalid input syntax for type numeric: "3 .00" in data row 3, column amount.'),
    ],
    ids=["binary-after-csv", "csv-after-binary"],
)
def test_bad_value_names_its_data_row_whichever_copy_format_carries_it(
    warehouse: psycopg.Connection,
    warehouse_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    message: str,
) -> None:
    monkeypatch.setattr(copy_stream, "CHUNK_ROWS", 2)
    table = f"{warehouse_schema}.amounts"
    create_table(warehouse, table, {"id": "integer", "amount": "numeric(8,2)"})
    insert_rows(warehouse, table, ["id", "amount", "dagster_run_id"], [(9, Decimal("9.00"), "run-0")])

    with pytest.raises(LoadError) as caught:
        load(warehouse, table, write_file(tmp_path / "amounts.csv", "id,amount\n" + body))

    assert caught.value.message == f"amounts.csv: {message} Nothing was loaded into {table}."
    assert table_rows(warehouse, table) == [(9, Decimal("9.00"), "run-0")]


def test_columns_of_other_types_load_as_postgresql_reads_them(
    warehouse: psycopg.Connection, warehouse_schema: str, tmp_path: Path
) -> None:
    table = f"{warehouse_schema}.docs"
    create_table(warehouse, table, {"id": "uuid", "doc": "jsonb", "n": "integer"})
    path = write_file(tmp_path / "docs.csv", 'id,doc,n\n0b7f1a84-5c3e-4d52-9a43-1f0c1d2e3f40,"{""a"": [1, 2]}",7\n')

    load(warehouse, table, path)

    assert table_rows(warehouse, table) == [
        (uuid.UUID("0b7f1a84-5c3e-4d52-9a43-1f0c1d2e3f40"), {"a": [1, 2]}, 7, "run-1")
    ]


def test_text_loads_exactly_whatever_the_connections_client_encoding(
    warehouse: psycopg.Connection, people: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "unicode.csv", "id,name\n1,東京都 🚀\n2,Zoë\n")
    warehouse.execute("SET client_encoding TO 'LATIN1'")

    load(warehouse, people, path)

    warehouse.execute("SET client_encoding TO 'UTF8'")
    assert table_rows(warehouse, people) == [(1, "東京都 🚀", "run-1"), (2, "Zoë", "run-1"), *BEFORE]


def test_progress_is_reported_each_time_a_file_passes_progress_every_rows(
    warehouse: psycopg.Connection, people: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copy_stream, "CHUNK_ROWS", 10)
    first = write_file(tmp_path / "first.csv", "id,name\n" + "".join(f"{i},n{i}\n" for i in range(250)))
    second = write_file(tmp_path / "second.csv", "id,name\n" + "".join(f"{i},n{i}\n" for i in range(120)))
    calls: list[tuple[str, int]] = []

    result = load(
        warehouse, people, first, second, progress=lambda name, rows: calls.append((name, rows)), progress_every=100
    )

    assert result.rows_loaded == 370
    assert calls == [("first.csv", 100), ("first.csv", 200), ("second.csv", 100)]


def test_small_file_reports_no_progress(warehouse: psycopg.Connection, people: str, tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []

    load(warehouse, people, write_file(tmp_path / "small.csv", "id,name\n1,a\n2,b\n"), progress=calls.append)

    assert calls == []
    assert table_rows(warehouse, people) == [(1, "a", "run-1"), (2, "b", "run-1"), *BEFORE]


def test_progress_every_below_one_is_refused(warehouse: psycopg.Connection, people: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="progress_every"):
        load(warehouse, people, write_file(tmp_path / "a.csv", "id,name\n1,a\n"), progress_every=0)

    assert table_rows(warehouse, people) == BEFORE


def test_the_load_reports_the_time_spent_parsing(warehouse: psycopg.Connection, people: str, tmp_path: Path) -> None:
    slow_parser = get_parser("csv")

    def parse_slowly(path: Path, options: dict) -> parsers.ParsedFile:
        parsed = slow_parser(path, options)

        def batches():
            for batch in parsed.batches:
                time.sleep(0.2)
                yield batch

        return parsers.ParsedFile(columns=parsed.columns, batches=batches())

    path = write_file(tmp_path / "a.csv", "id,name\n1,Ann\n")
    result = load_files(
        warehouse, table=people, files=[path], parser=parse_slowly, options={}, column_mapping=None, run_id="run-1"
    )

    assert result.parse_seconds >= 0.2
