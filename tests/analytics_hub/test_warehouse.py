"""list_tables against real tables: exact counts, odd names, no views, no system schemas."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from analytics_hub.warehouse import TableInfo, WarehouseUnavailable, connect, list_tables


def _create_table(conn: psycopg.Connection, schema: str, name: str, rows: int) -> None:
    table = sql.Identifier(schema, name)
    conn.execute(sql.SQL("CREATE TABLE {} (id integer)").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, %s)").format(table), (rows,))


def _in_schema(tables: list[TableInfo], schema: str) -> list[TableInfo]:
    return [t for t in tables if t.schema == schema]


def test_list_tables_counts_every_row_of_each_table(warehouse, warehouse_schema):
    _create_table(warehouse, warehouse_schema, "orders", 3)
    _create_table(warehouse, warehouse_schema, "customers", 1250)
    _create_table(warehouse, warehouse_schema, "empty", 0)

    assert _in_schema(list_tables(warehouse), warehouse_schema) == [
        TableInfo(schema=warehouse_schema, name="customers", row_count=1250),
        TableInfo(schema=warehouse_schema, name="empty", row_count=0),
        TableInfo(schema=warehouse_schema, name="orders", row_count=3),
    ]


def test_list_tables_counts_tables_with_odd_names(warehouse, warehouse_schema):
    _create_table(warehouse, warehouse_schema, "Order Items", 7)
    _create_table(warehouse, warehouse_schema, 'quote"d; DROP TABLE x', 2)
    _create_table(warehouse, warehouse_schema, "MixedCase", 4)

    assert _in_schema(list_tables(warehouse), warehouse_schema) == [
        TableInfo(schema=warehouse_schema, name="MixedCase", row_count=4),
        TableInfo(schema=warehouse_schema, name="Order Items", row_count=7),
        TableInfo(schema=warehouse_schema, name='quote"d; DROP TABLE x', row_count=2),
    ]


def test_list_tables_covers_every_user_schema(warehouse, warehouse_schema):
    other = f"{warehouse_schema} Sales"
    warehouse.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(other)))
    try:
        _create_table(warehouse, warehouse_schema, "orders", 2)
        _create_table(warehouse, other, "orders", 5)

        tables = list_tables(warehouse)

        assert _in_schema(tables, warehouse_schema) == [TableInfo(warehouse_schema, "orders", 2)]
        assert _in_schema(tables, other) == [TableInfo(other, "orders", 5)]
    finally:
        warehouse.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(other)))


def test_list_tables_leaves_out_views_and_counts_partitions_once(warehouse, warehouse_schema):
    _create_table(warehouse, warehouse_schema, "orders", 5)
    warehouse.execute(
        sql.SQL("CREATE VIEW {}.big_orders AS SELECT * FROM orders").format(sql.Identifier(warehouse_schema))
    )
    warehouse.execute("CREATE MATERIALIZED VIEW order_totals AS SELECT count(*) AS n FROM orders")
    warehouse.execute("CREATE TABLE events (day date) PARTITION BY RANGE (day)")
    warehouse.execute("CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    warehouse.execute("CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')")
    warehouse.execute("INSERT INTO events VALUES ('2024-03-01'), ('2024-04-01'), ('2025-05-01')")

    assert _in_schema(list_tables(warehouse), warehouse_schema) == [
        TableInfo(warehouse_schema, "events", 3),
        TableInfo(warehouse_schema, "orders", 5),
    ]


def test_list_tables_leaves_out_system_schemas_and_temporary_tables(warehouse):
    warehouse.execute("CREATE TEMPORARY TABLE scratch (id integer)")

    schemas = {t.schema for t in list_tables(warehouse)}

    assert not {s for s in schemas if s == "information_schema" or s.startswith("pg_")}
    assert "scratch" not in {t.name for t in list_tables(warehouse)}


def test_list_tables_is_empty_for_an_empty_warehouse(warehouse, warehouse_schema):
    assert _in_schema(list_tables(warehouse), warehouse_schema) == []


def test_list_tables_works_inside_an_open_transaction(warehouse_url, warehouse_schema):
    with psycopg.connect(warehouse_url) as conn:
        _create_table(conn, warehouse_schema, "orders", 4)

        assert _in_schema(list_tables(conn), warehouse_schema) == [TableInfo(warehouse_schema, "orders", 4)]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def test_connect_reads_warehouse_url_from_the_environment(monkeypatch, warehouse_url):
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)

    with connect() as conn:
        assert conn.info.dbname == psycopg.conninfo.conninfo_to_dict(warehouse_url)["dbname"]
        assert conn.autocommit


def test_connect_explains_an_unreachable_warehouse_in_plain_words(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")

    with pytest.raises(WarehouseUnavailable) as caught:
        connect()

    assert "cannot be reached" in caught.value.message
    assert "127.0.0.1" in caught.value.detail
