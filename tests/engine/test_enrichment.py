"""Enrichment: NULLs of the current run filled from a lookup table, nothing else touched, clear errors."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from dagster_code.engine.enrichment import EnrichmentResult, EnrichmentRule, apply_enrichment
from dagster_code.engine.errors import EnrichmentError

INJECTION = "'; DROP TABLE x; --"


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


def create(conn: psycopg.Connection, table: str, columns: str, rows: list[tuple]) -> None:
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident(table), sql.SQL(columns)))
    if rows:
        marks = sql.SQL(", ").join(sql.Placeholder() * len(rows[0]))
        with conn.cursor() as cursor:
            cursor.executemany(sql.SQL("INSERT INTO {} VALUES ({})").format(ident(table), marks), rows)


def table_rows(conn: psycopg.Connection, table: str) -> list[tuple]:
    rows = conn.execute(sql.SQL("SELECT * FROM {}").format(ident(table))).fetchall()
    return sorted(rows, key=lambda row: [(value is None, str(value)) for value in row])


@pytest.fixture
def tables(warehouse: psycopg.Connection, warehouse_schema: str) -> dict[str, str]:
    """Staging rows of run-1 and run-0 with gaps; lookups ``products`` (a key twice) and ``regions``; ``x``."""
    names = {key: f"{warehouse_schema}.{key}" for key in ("stg", "products", "regions", "x")}
    create(
        warehouse,
        names["stg"],
        "sale_id integer, product_sku text, category text, region_code integer, region_name text, dagster_run_id text",
        [
            (1, "SKU-A", None, 1, None, "run-1"),
            (2, "SKU-B", "kept as loaded", 2, "Kept", "run-1"),
            (3, "SKU-Z", None, 9, None, "run-1"),
            (4, "SKU-D", None, None, None, "run-1"),
            (5, None, None, 1, None, "run-1"),
            (6, "SKU-A", None, 1, None, "run-0"),
        ],
    )
    create(
        warehouse,
        names["products"],
        "sku text, category text",
        [("SKU-A", "Widgets"), ("SKU-B", "Gadgets"), ("SKU-D", "Tools"), ("SKU-D", "Hardware"), ("SKU-E", None)],
    )
    create(warehouse, names["regions"], "code integer, name text", [(1, "North"), (2, "South")])
    create(warehouse, names["x"], "id integer", [])
    return names


def category_rule(tables: dict[str, str], **changes) -> EnrichmentRule:
    fields = {
        "name": "category_from_products",
        "staging_table": tables["stg"],
        "target_column": "category",
        "lookup_table": tables["products"],
        "staging_key": "product_sku",
        "lookup_key": "sku",
        "lookup_value": "category",
    }
    return EnrichmentRule(**{**fields, **changes})


def region_rule(tables: dict[str, str], **changes) -> EnrichmentRule:
    fields = {
        "name": "region_from_code",
        "staging_table": tables["stg"],
        "target_column": "region_name",
        "lookup_table": tables["regions"],
        "staging_key": "region_code",
        "lookup_key": "code",
        "lookup_value": "name",
    }
    return EnrichmentRule(**{**fields, **changes})


def test_enrichment_fills_only_nulls_of_the_current_run(warehouse, tables):
    results = apply_enrichment(warehouse, table=tables["stg"], run_id="run-1", rules=[category_rule(tables)])

    assert results == [EnrichmentResult("category_from_products", filled=2, still_missing=2)]
    assert table_rows(warehouse, tables["stg"]) == [
        (1, "SKU-A", "Widgets", 1, None, "run-1"),
        (2, "SKU-B", "kept as loaded", 2, "Kept", "run-1"),
        (3, "SKU-Z", None, 9, None, "run-1"),  # no such key in the lookup
        (4, "SKU-D", "Hardware", None, None, "run-1"),  # the key twice: the smallest value, every time
        (5, None, None, 1, None, "run-1"),  # no key
        (6, "SKU-A", None, 1, None, "run-0"),  # another run's row is left alone
    ]


def test_rules_apply_in_order_and_report_what_is_still_missing(warehouse, tables):
    results = apply_enrichment(
        warehouse, table=tables["stg"], run_id="run-1", rules=[category_rule(tables), region_rule(tables)]
    )

    assert results == [
        EnrichmentResult("category_from_products", filled=2, still_missing=2),
        EnrichmentResult("region_from_code", filled=2, still_missing=2),
    ]
    assert [row[4] for row in table_rows(warehouse, tables["stg"])] == ["North", "Kept", None, None, "North", None]


def test_no_rules_change_nothing(warehouse, tables):
    before = table_rows(warehouse, tables["stg"])
    assert apply_enrichment(warehouse, table=tables["stg"], run_id="run-1", rules=[]) == []
    assert table_rows(warehouse, tables["stg"]) == before


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"lookup_table": "{schema}.nowhere"},
            "category_from_products: the lookup table {schema}.nowhere does not exist",
        ),
        (
            {"lookup_key": "code"},
            "category_from_products: the column code is not in the lookup table {schema}.products.",
        ),
        ({"lookup_value": "label"}, "the column label is not in the lookup table {schema}.products."),
        (
            {"target_column": "product_category"},
            "the column product_category is not in the staging table {schema}.stg.",
        ),
        ({"staging_key": "sku"}, "the column sku is not in the staging table {schema}.stg."),
        (
            {"lookup_table": INJECTION},
            "category_from_products: '" + INJECTION + "' is not a valid table or column name.",
        ),
        ({"lookup_value": 'category" = NULL; DROP TABLE x; --'}, "is not a valid column name"),
        ({"staging_key": "sale_id"}, "filling category from {schema}.products failed: operator does not exist"),
    ],
)
def test_a_rule_that_cannot_run_is_named_and_no_rule_changes_anything(
    warehouse, warehouse_schema, tables, changes, message
):
    before = table_rows(warehouse, tables["stg"])
    changes = {k: v.format(schema=warehouse_schema) if "{schema}" in v else v for k, v in changes.items()}
    with pytest.raises(EnrichmentError) as err:
        apply_enrichment(
            warehouse,
            table=tables["stg"],
            run_id="run-1",
            rules=[region_rule(tables), category_rule(tables, **changes)],
        )

    assert message.format(schema=warehouse_schema) in err.value.message
    assert table_rows(warehouse, tables["stg"]) == before
    assert table_rows(warehouse, tables["x"]) == []


def test_injection_text_in_lookup_values_is_copied_as_data(warehouse, tables):
    warehouse.execute(sql.SQL("INSERT INTO {} VALUES ('SKU-Z', %s)").format(ident(tables["products"])), (INJECTION,))

    apply_enrichment(warehouse, table=tables["stg"], run_id="run-1", rules=[category_rule(tables)])

    assert [row[2] for row in table_rows(warehouse, tables["stg"]) if row[0] == 3] == [INJECTION]
    assert table_rows(warehouse, tables["x"]) == []


def test_enrichment_runs_inside_the_callers_transaction_without_committing(warehouse_url, warehouse, tables):
    before = table_rows(warehouse, tables["stg"])
    with psycopg.connect(warehouse_url) as conn:
        results = apply_enrichment(conn, table=tables["stg"], run_id="run-1", rules=[category_rule(tables)])
        assert results[0].filled == 2
        conn.rollback()

    assert table_rows(warehouse, tables["stg"]) == before
