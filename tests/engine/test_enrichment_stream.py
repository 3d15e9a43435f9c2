"""Enrichment in the load's stream gives exactly what the UPDATE after the load gives, and is used only then."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dagster_code.engine.enrichment import EnrichmentRule
from dagster_code.engine.errors import EnrichmentError
from dagster_code.engine.loader import load_files
from dagster_code.engine.parsers import get_parser

STAGING = (
    "sale_id integer, product_sku text, category text, region_code text, region_name text, "
    "unit_price numeric(8, 2), dagster_run_id text"
)
CSV = """sale_id,product_sku,category,region_code,region_name,unit_price
1,SKU-A,,N,,
2,SKU-B,kept as loaded,S,Kept,9.99
3,SKU-Z,,X,,
4,SKU-D,,,,
5,,,N,,1.50
6,sku-a,,n,,
7,SKU-A ,,N ,,
8,SKU-Ä,,S,,
"""


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


@pytest.fixture
def tables(warehouse: psycopg.Connection, warehouse_schema: str) -> dict[str, str]:
    names = {key: f"{warehouse_schema}.{key}" for key in ("stg", "stg_update", "products", "regions", "prices")}
    for name in ("stg", "stg_update"):
        warehouse.execute(sql.SQL("CREATE TABLE {} (" + STAGING + ")").format(ident(names[name])))
    warehouse.execute(sql.SQL("CREATE TABLE {} (sku varchar(20), category text)").format(ident(names["products"])))
    warehouse.execute(
        sql.SQL(
            "INSERT INTO {} VALUES ('SKU-A', 'Widgets'), ('SKU-B', 'Gadgets'), ('SKU-D', 'Tools'), "
            "('SKU-D', 'Hardware'), ('SKU-E', NULL), (NULL, 'Orphans'), ('SKU-Ä', 'Umlauts')"
        ).format(ident(names["products"]))
    )
    warehouse.execute(sql.SQL("CREATE TABLE {} (code text, name text)").format(ident(names["regions"])))
    warehouse.execute(
        sql.SQL("INSERT INTO {} VALUES ('N', 'North'), ('S', 'South'), ('S', 'Sud')").format(ident(names["regions"]))
    )
    warehouse.execute(sql.SQL("CREATE TABLE {} (category text, price numeric(8, 2))").format(ident(names["prices"])))
    warehouse.execute(
        sql.SQL("INSERT INTO {} VALUES ('Widgets', 2.50), ('Tools', 10), ('Umlauts', 0.10)").format(
            ident(names["prices"])
        )
    )
    return names


def rules(tables: dict[str, str], staging: str) -> list[EnrichmentRule]:
    """Category from the SKU, region name from its code, then a price keyed on the category the first rule filled."""
    return [
        EnrichmentRule("category", staging, "category", tables["products"], "product_sku", "sku", "category"),
        EnrichmentRule("region", staging, "region_name", tables["regions"], "region_code", "code", "name"),
        EnrichmentRule("price", staging, "unit_price", tables["prices"], "category", "category", "price"),
    ]


def load(conn: psycopg.Connection, table: str, path: Path, enrichment: list[EnrichmentRule], run_id: str = "run-1"):
    return load_files(
        conn,
        table=table,
        files=[path],
        parser=get_parser("csv"),
        options={},
        column_mapping=None,
        run_id=run_id,
        enrichment=enrichment,
    )


def rows(conn: psycopg.Connection, table: str) -> list[tuple]:
    return conn.execute(sql.SQL("SELECT * FROM {} ORDER BY sale_id").format(ident(table))).fetchall()


def update_instead(conn: psycopg.Connection, tables: dict[str, str]) -> None:
    """Make the stream impossible for ``stg_update``: a DEFAULT on a target column (never used: the file has it)."""
    conn.execute(
        sql.SQL("ALTER TABLE {} ALTER COLUMN region_name SET DEFAULT 'none'").format(ident(tables["stg_update"]))
    )


def test_the_stream_and_the_update_fill_the_same_values_and_report_the_same_counts(warehouse, tables, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(CSV, encoding="utf-8")
    update_instead(warehouse, tables)

    streamed = load(warehouse, tables["stg"], path, rules(tables, tables["stg"]))
    updated = load(warehouse, tables["stg_update"], path, rules(tables, tables["stg_update"]))

    assert streamed.enriched_in_stream and not updated.enriched_in_stream
    assert rows(warehouse, tables["stg"]) == rows(warehouse, tables["stg_update"])
    assert [(r.name, r.filled, r.still_missing) for r in streamed.enrichment] == [
        (r.name, r.filled, r.still_missing) for r in updated.enrichment
    ]
    by_id = {row[0]: row for row in rows(warehouse, tables["stg"])}
    assert by_id[1][2:6] == ("Widgets", "N", "North", Decimal("2.50"))  # the price keyed on the category just filled
    assert by_id[2][2:6] == ("kept as loaded", "S", "Kept", Decimal("9.99"))  # values present are kept
    assert by_id[4][2] == "Hardware"  # a key twice in the lookup: the smallest value
    assert by_id[8][2:5] == ("Umlauts", "S", "South")
    for sale_id in (3, 5, 6, 7):  # unknown, NULL, other case, trailing space: no match
        assert by_id[sale_id][2] is None
    assert [(r.filled, r.still_missing) for r in streamed.enrichment] == [(3, 4), (3, 4), (2, 4)]


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE {stg} ALTER COLUMN product_sku TYPE varchar(10)",  # a bounded key may be cut on input
        "ALTER TABLE {products} ALTER COLUMN category TYPE varchar(40)",  # value type differs from the target's
        "ALTER TABLE {stg} ALTER COLUMN category SET DEFAULT 'none'",  # a missing column would not be NULL
    ],
)
def test_the_update_is_used_whenever_the_stream_could_differ(warehouse, tables, tmp_path, change):
    warehouse.execute(change.format(stg=ident(tables["stg"]).as_string(warehouse), products=tables["products"]))
    path = tmp_path / "sales.csv"
    path.write_text(CSV, encoding="utf-8")

    result = load(warehouse, tables["stg"], path, rules(tables, tables["stg"])[:1])

    assert not result.enriched_in_stream
    assert [(r.filled, r.still_missing) for r in result.enrichment] == [(3, 4)]


def test_a_lookup_larger_than_the_limit_uses_the_update(warehouse, tables, tmp_path, monkeypatch):
    monkeypatch.setattr("dagster_code.engine.enrichment.STREAM_MAX_KEYS", 3)
    path = tmp_path / "sales.csv"
    path.write_text(CSV, encoding="utf-8")

    result = load(warehouse, tables["stg"], path, rules(tables, tables["stg"])[:1])

    assert not result.enriched_in_stream  # products holds 4 distinct keys
    assert [(r.filled, r.still_missing) for r in result.enrichment] == [(3, 4)]


def test_a_missing_lookup_stops_the_load_before_any_row_is_written(warehouse, tables, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(CSV, encoding="utf-8")
    rule = rules(tables, tables["stg"])[0]
    broken = EnrichmentRule(rule.name, rule.staging_table, rule.target_column, "nowhere", "product_sku", "sku", "x")

    with pytest.raises(EnrichmentError, match="lookup table nowhere does not exist"):
        load(warehouse, tables["stg"], path, [broken])

    assert rows(warehouse, tables["stg"]) == []


def test_streamed_fills_touch_only_the_loading_run(warehouse, tables, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(CSV, encoding="utf-8")
    load(warehouse, tables["stg"], path, [], run_id="run-0")

    load(warehouse, tables["stg"], path, rules(tables, tables["stg"]), run_id="run-1")

    earlier = warehouse.execute(
        sql.SQL("SELECT count(*) FILTER (WHERE category IS NOT NULL) FROM {} WHERE dagster_run_id = 'run-0'").format(
            ident(tables["stg"])
        )
    ).fetchone()
    assert earlier == (1,)  # only the value the file itself gave
