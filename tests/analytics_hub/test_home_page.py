"""The home page run through its entry point: real tables in, their counts on the page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import streamlit as st
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "analytics_hub" / "streamlit_app.py"
UNREACHABLE_URL = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def empty_warehouse_url(warehouse_url: str) -> Iterator[str]:
    """A database of its own with no tables at all (the shared test warehouse may hold other tests' tables)."""
    name = f"empty_{uuid.uuid4().hex[:10]}"
    maintenance = make_conninfo(**{**conninfo_to_dict(warehouse_url), "dbname": "postgres"})
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(**{**conninfo_to_dict(warehouse_url), "dbname": name})
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _run_app() -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    assert not app.exception
    return app


def _create_table(conn: psycopg.Connection, schema: str, name: str, rows: int) -> None:
    table = sql.Identifier(schema, name)
    conn.execute(sql.SQL("CREATE TABLE {} (id integer)").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, %s)").format(table), (rows,))


def test_home_page_lists_the_tables_of_a_schema_with_their_row_counts(
    monkeypatch, warehouse, warehouse_url, warehouse_schema
):
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    _create_table(warehouse, warehouse_schema, "orders", 12)
    _create_table(warehouse, warehouse_schema, "Order Items", 1500)
    _create_table(warehouse, warehouse_schema, "customers", 0)

    app = _run_app()
    assert app.title[0].value == "Launchpad analytics hub"
    assert not app.error
    every_table = app.dataframe[0].value
    assert set(every_table.columns) == {"Schema", "Table", "Rows"}
    assert {"orders", "Order Items", "customers"} <= set(every_table["Table"])

    app.selectbox(key="tables_schema").select(warehouse_schema).run()

    shown = app.dataframe[0].value
    assert shown.to_dict("records") == [
        {"Schema": warehouse_schema, "Table": "Order Items", "Rows": 1500},
        {"Schema": warehouse_schema, "Table": "customers", "Rows": 0},
        {"Schema": warehouse_schema, "Table": "orders", "Rows": 12},
    ]
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {"Tables": "3", "Total rows": "1,512"}


def test_home_page_shows_new_rows_after_refresh(monkeypatch, warehouse, warehouse_url, warehouse_schema):
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    _create_table(warehouse, warehouse_schema, "orders", 2)
    app = _run_app()
    app.selectbox(key="tables_schema").select(warehouse_schema).run()
    assert app.dataframe[0].value["Rows"].tolist() == [2]

    warehouse.execute(sql.SQL("INSERT INTO {} VALUES (3)").format(sql.Identifier(warehouse_schema, "orders")))
    app.run()
    assert app.dataframe[0].value["Rows"].tolist() == [2]  # still the cached count

    app.button(key="tables_refresh").click().run()
    assert app.dataframe[0].value["Rows"].tolist() == [3]


def test_home_page_invites_a_first_load_when_the_warehouse_is_empty(monkeypatch, empty_warehouse_url):
    monkeypatch.setenv("WAREHOUSE_URL", empty_warehouse_url)

    app = _run_app()

    assert [info.value for info in app.info] == ["No tables in the warehouse yet — run seed_demo or load a file"]
    assert not app.dataframe
    assert not app.error


def test_home_page_explains_an_unreachable_warehouse_without_a_traceback(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", UNREACHABLE_URL)

    app = _run_app()

    assert len(app.error) == 1
    assert "cannot be reached" in app.error[0].value
    assert "Traceback" not in app.error[0].value
    assert not app.dataframe
    assert not app.metric
