"""Pre-flight: the real load, enrichment and rules in a transaction that is always rolled back."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dagster_code.engine.enrichment import EnrichmentRule, apply_enrichment
from dagster_code.engine.loader import load_files
from dagster_code.engine.mapping import preview_rows
from dagster_code.engine.parsers import get_parser
from dagster_code.engine.preflight import ColumnMatch, PreflightError, preflight
from dagster_code.engine.quality import QualityRule, evaluate_rules

HEADER = "sale_id,Region Name,product_sku,category,quantity\n"
GOOD_AND_BAD = (
    HEADER + "1,North,SKU-A,,2\n2,Mars,SKU-B,Gadgets,1\n3,South,SKU-Z,,3\n3,East,SKU-A,Widgets,1\n6,West,SKU-A,,0\n"
)
MAPPING = {"Region Name": "region"}


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


def snapshot(conn: psycopg.Connection, tables: dict[str, str]) -> dict[str, tuple[int, list[str]]]:
    """Every table's row count and full contents, each row as PostgreSQL's text of it, in a fixed order."""
    out = {}
    for key, table in tables.items():
        rows = conn.execute(sql.SQL("SELECT t::text FROM {} AS t ORDER BY 1").format(ident(table))).fetchall()
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident(table))).fetchone()[0]
        out[key] = (count, [r[0] for r in rows])
    return out


@pytest.fixture
def tables(warehouse: psycopg.Connection, warehouse_schema: str) -> dict[str, str]:
    """Staging with an earlier run's rows, a destination holding sale 6, a product lookup."""
    names = {key: f"{warehouse_schema}.{key}" for key in ("stg", "sales", "products")}
    warehouse.execute(
        sql.SQL(
            "CREATE TABLE {} (sale_id integer, region text, product_sku text, category text, quantity integer, "
            "loaded_at timestamptz DEFAULT now(), dagster_run_id text)"
        ).format(ident(names["stg"]))
    )
    warehouse.execute(
        sql.SQL("INSERT INTO {} VALUES (9, 'North', 'SKU-A', NULL, 1, '2024-01-01', 'old-run')").format(
            ident(names["stg"])
        )
    )
    warehouse.execute(sql.SQL("CREATE TABLE {} (sale_id integer, region text)").format(ident(names["sales"])))
    warehouse.execute(sql.SQL("INSERT INTO {} VALUES (6, 'West'), (7, 'East')").format(ident(names["sales"])))
    warehouse.execute(sql.SQL("CREATE TABLE {} (sku text, category text)").format(ident(names["products"])))
    warehouse.execute(
        sql.SQL("INSERT INTO {} VALUES ('SKU-A', 'Widgets'), ('SKU-B', 'Gadgets')").format(ident(names["products"]))
    )
    return names


def rules(tables: dict[str, str]) -> tuple[list[EnrichmentRule], list[QualityRule]]:
    stg = tables["stg"]
    enrichment = [
        EnrichmentRule(
            name="category_from_products",
            staging_table=stg,
            target_column="category",
            lookup_table=tables["products"],
            staging_key="product_sku",
            lookup_key="sku",
            lookup_value="category",
        )
    ]
    quality = [
        QualityRule("category_present", stg, "category", "NOT_NULL", "", "FAIL"),
        QualityRule("known_region", stg, "region", "IS_IN_SET", '["North", "South", "East", "West"]', "WARN"),
        QualityRule("sale_new", stg, "sale_id", "UNIQUE", '{"against_destination": true}', "FAIL"),
        QualityRule("some_rows", stg, "", "ROW_COUNT_MIN", "3", "FAIL"),
        QualityRule("positive_quantity", stg, "", "CUSTOM_SQL", "quantity > 0", "WARN"),
    ]
    return enrichment, quality


def run_preflight(conn: psycopg.Connection, tables: dict[str, str], path: Path, **changes):
    enrichment, quality = rules(tables)
    arguments = {
        "path": path,
        "parser": get_parser("csv"),
        "options": {},
        "column_mapping": MAPPING,
        "staging_table": tables["stg"],
        "enrichment_rules": enrichment,
        "quality_rules": quality,
        "key_columns": ("sale_id",),
        "destination": tables["sales"],
    }
    return preflight(conn, **{**arguments, **changes})


@pytest.fixture
def good_and_bad(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    path.write_text(GOOD_AND_BAD)
    return path


def test_preflight_shows_what_a_real_load_gives_and_leaves_every_table_unchanged(warehouse, tables, good_and_bad):
    before = snapshot(warehouse, tables)

    report = run_preflight(warehouse, tables, good_and_bad)

    assert snapshot(warehouse, tables) == before
    assert report.run_id.startswith("preflight-")
    assert report.error is None
    assert report.rows_read == 5
    assert report.columns == (
        ColumnMatch("sale_id", "sale_id"),
        ColumnMatch("Region Name", "region"),
        ColumnMatch("product_sku", "product_sku"),
        ColumnMatch("category", "category"),
        ColumnMatch("quantity", "quantity"),
    )
    assert report.unfilled_columns == ("loaded_at",)

    enrichment, quality = rules(tables)
    with psycopg.connect(warehouse.info.dsn, autocommit=True) as real:
        load_files(
            real,
            table=tables["stg"],
            files=[good_and_bad],
            parser=get_parser("csv"),
            options={},
            column_mapping=MAPPING,
            run_id="real-run",
        )
        filled = apply_enrichment(real, table=tables["stg"], run_id="real-run", rules=enrichment)
        results = evaluate_rules(
            real,
            table=tables["stg"],
            run_id="real-run",
            rules=quality,
            key_columns=("sale_id",),
            destination=tables["sales"],
        )
        preview = preview_rows(real, tables["stg"], "real-run")

    assert report.rules == tuple(results)
    assert report.enrichment == tuple(filled)
    assert [(r.name, r.filled, r.still_missing) for r in report.enrichment] == [("category_from_products", 2, 1)]
    assert [(r.name, r.passed, r.rows_failing) for r in report.rules] == [
        ("category_present", False, 1),
        ("known_region", False, 1),
        ("sale_new", False, 3),
        ("some_rows", True, 0),
        ("positive_quantity", False, 1),
    ]
    assert report.rules[0].sample == ({"sale_id": 3},)
    assert [r.name for r in report.blocking_rules] == ["category_present", "sale_new"]
    assert not report.would_load
    assert sorted(row[:5] for row in report.preview.rows) == sorted(row[:5] for row in preview.rows)
    assert report.preview.columns == preview.columns


def test_a_clean_file_would_load(warehouse, tables, tmp_path):
    path = tmp_path / "clean.csv"
    path.write_text(HEADER + "1,North,SKU-A,,2\n2,South,SKU-B,,1\n3,East,SKU-A,Widgets,4\n")
    before = snapshot(warehouse, tables)

    report = run_preflight(warehouse, tables, path)

    assert report.would_load and report.error is None
    assert all(r.passed for r in report.rules)
    assert sorted(row[:4] for row in report.preview.rows) == [
        ("1", "North", "SKU-A", "Widgets"),
        ("2", "South", "SKU-B", "Gadgets"),
        ("3", "East", "SKU-A", "Widgets"),
    ]
    assert snapshot(warehouse, tables) == before


def test_a_value_that_does_not_load_is_reported_with_its_row_and_nothing_changes(warehouse, tables, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "1,North,SKU-A,,2\n2,South,SKU-B,,two\n")
    before = snapshot(warehouse, tables)

    report = run_preflight(warehouse, tables, path)

    assert snapshot(warehouse, tables) == before
    assert report.error is not None
    assert report.error.message.startswith("bad.csv: invalid input syntax for type integer")
    assert "data row 2, column quantity" in report.error.message
    assert report.error.hint
    assert report.columns[1] == ColumnMatch("Region Name", "region")
    assert (report.rows_read, report.rules, report.preview, report.would_load) == (0, (), None, False)


def test_schema_drift_is_reported_with_a_hint_and_nothing_changes(warehouse, tables, tmp_path):
    path = tmp_path / "drift.csv"
    path.write_text("sale_id,Region Name,sku,category,quantity\n1,North,SKU-A,,2\n")
    before = snapshot(warehouse, tables)

    report = run_preflight(warehouse, tables, path)

    assert snapshot(warehouse, tables) == before
    assert "missing column(s) product_sku; unexpected column(s) sku" in report.error.message
    assert '{"sku": "product_sku"}' in report.error.hint
    assert report.columns == ()


def test_a_rule_that_cannot_run_is_reported_and_nothing_changes(warehouse, tables, good_and_bad):
    broken = QualityRule("no_such_column", tables["stg"], "nope", "NOT_NULL", "", "FAIL")
    before = snapshot(warehouse, tables)

    report = run_preflight(warehouse, tables, good_and_bad, quality_rules=[broken])

    assert snapshot(warehouse, tables) == before
    assert report.error is not None and "nope" in report.error.message
    assert report.rows_read == 5


def test_on_a_connection_without_autocommit_the_caller_can_commit_and_still_nothing_changed(
    warehouse, warehouse_url, tables, good_and_bad
):
    before = snapshot(warehouse, tables)
    with psycopg.connect(warehouse_url) as conn:
        report = run_preflight(conn, tables, good_and_bad)
        conn.commit()

    assert report.rows_read == 5
    assert snapshot(warehouse, tables) == before


def test_a_missing_staging_table_is_a_plain_error(warehouse, tables, good_and_bad, warehouse_schema):
    report = run_preflight(warehouse, tables, good_and_bad, staging_table=f"{warehouse_schema}.nowhere")

    assert report.error == PreflightError(
        f"The table {warehouse_schema}.nowhere does not exist in the warehouse.",
        "Create the table (or fix the name in the import's settings).",
    )
