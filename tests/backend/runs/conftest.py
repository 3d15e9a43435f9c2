"""Runs tests: the demo warehouse for the dashboard and admin checks, and a snapshot proving nothing changed."""

from __future__ import annotations

import psycopg
import pytest

from backend.pipelines.demo import create_demo_warehouse

TABLES = ("staging.daily_sales", "dw.sales")
HEADER = "sale_id,sale_date,region,product_sku,quantity,amount\n"


def snapshot(url: str) -> dict[str, tuple[int, list[str]]]:
    """Row count and every row (as PostgreSQL's text of it) of the demo tables."""
    with psycopg.connect(url) as conn:
        return {
            table: (
                conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
                [r[0] for r in conn.execute(f"SELECT t::text FROM {table} AS t ORDER BY 1").fetchall()],
            )
            for table in TABLES
        }


@pytest.fixture
def demo_tables(warehouse_url: str, settings) -> str:
    """The demo tables with one earlier load in them; the app's warehouse is the test warehouse."""
    create_demo_warehouse(warehouse_url)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("TRUNCATE staging.daily_sales, dw.sales")
        conn.execute(
            "INSERT INTO staging.daily_sales VALUES (7, '2024-01-01', 'North', 'SKU-1', 1, 2.00, 'earlier-run')"
        )
        conn.execute("INSERT INTO dw.sales VALUES (7, '2024-01-01', 'North', 'SKU-1', 1, 2.00, 'earlier-run')")
    settings.WAREHOUSE_URL = warehouse_url
    return warehouse_url
