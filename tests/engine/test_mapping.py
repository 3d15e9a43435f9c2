"""Column mapping and schema drift: the file and the staging table must agree before anything loads."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from dagster_code.engine.errors import SchemaMismatchError
from dagster_code.engine.mapping import StagingTable, describe_table, map_columns
from tests.engine.test_loader import create_table, load, table_rows, write_file

TABLE = StagingTable(
    name="staging.sales",
    columns=("sale_id", "region", "amount", "dagster_run_id", "loaded_at"),
    defaulted=frozenset({"loaded_at"}),
)


def test_columns_match_by_name_in_any_order_and_defaulted_columns_may_be_absent() -> None:
    assert map_columns("a.csv", ["amount", "Region", "SALE_ID"], None, TABLE) == ["amount", "region", "sale_id"]


def test_drift_lists_every_missing_and_unexpected_column_and_says_how_to_fix_it() -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        map_columns("sales.csv", ["sale_id", "Region Name", "amount_eur", "channel"], None, TABLE)

    assert caught.value.message == (
        "sales.csv does not match the staging table staging.sales: missing column(s) region, amount; "
        "unexpected column(s) Region Name, amount_eur, channel. The table has: sale_id, region, amount, loaded_at."
    )
    assert '{"Region Name": "region", "amount_eur": "amount"}' in caught.value.hint
    assert "ALTER TABLE" in caught.value.hint
    assert "DEFAULT" in caught.value.hint


def test_a_missing_column_alone_is_drift() -> None:
    with pytest.raises(SchemaMismatchError, match=r"missing column\(s\) amount\. The table has"):
        map_columns("sales.csv", ["sale_id", "region"], None, TABLE)


def test_mapping_by_name_renames_listed_columns_and_reports_a_bad_target() -> None:
    assert map_columns("a.csv", ["ID", "Area", "amount"], {"ID": "sale_id", "Area": "region"}, TABLE) == [
        "sale_id",
        "region",
        "amount",
    ]
    with pytest.raises(SchemaMismatchError, match=r"unexpected column\(s\) Area \(mapped to area_code\)"):
        map_columns("a.csv", ["ID", "Area", "amount"], {"ID": "sale_id", "Area": "area_code"}, TABLE)


def test_positional_pairs_map_by_position_and_check_the_headers() -> None:
    pairs = [["Sale No", "sale_id"], ["Area", "region"], ["Total", "amount"]]

    assert map_columns("a.csv", ["sale no", " Area", "TOTAL"], pairs, TABLE) == ["sale_id", "region", "amount"]

    with pytest.raises(SchemaMismatchError) as caught:
        map_columns("a.csv", ["Sale No", "Total", "Area"], pairs, TABLE)
    assert caught.value.message == (
        "a.csv does not have the columns the mapping expects: column 2 is 'Total', the mapping expects 'Area'; "
        "column 3 is 'Area', the mapping expects 'Total'."
    )


def test_two_columns_into_one_target_are_refused() -> None:
    with pytest.raises(SchemaMismatchError, match="more than one column maps to region"):
        map_columns("a.csv", ["sale_id", "region", "Region", "amount"], None, TABLE)


def test_describe_table_knows_which_columns_have_defaults(warehouse: psycopg.Connection, warehouse_schema: str) -> None:
    table = f"{warehouse_schema}.shape"
    create_table(warehouse, table, {"id": "integer", "n": "bigint generated always as identity", "at": "date"})
    warehouse.execute(f"ALTER TABLE {table} ALTER COLUMN at SET DEFAULT current_date")

    shape = describe_table(warehouse, table)

    assert shape.columns == ("id", "n", "at", "dagster_run_id")
    assert shape.required == ("id",)


def test_a_drifted_file_loads_nothing(warehouse: psycopg.Connection, warehouse_schema: str, tmp_path: Path) -> None:
    table = f"{warehouse_schema}.people"
    create_table(warehouse, table, {"id": "integer", "name": "text"})
    path = write_file(tmp_path / "wide.csv", "id,full_name,email\n1,Ann,a@x.org\n")

    with pytest.raises(SchemaMismatchError) as caught:
        load(warehouse, table, path)

    assert "missing column(s) name; unexpected column(s) full_name, email" in caught.value.message
    assert table_rows(warehouse, table) == []
