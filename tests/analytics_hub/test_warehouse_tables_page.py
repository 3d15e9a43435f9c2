"""The warehouse tables page: the tables a user may query, with exact row counts; plain words when it cannot read."""

from __future__ import annotations

import psycopg
from psycopg import sql

from tests.analytics_hub.conftest import go_to

UNREACHABLE_URL = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"


def _fill(conn: psycopg.Connection, schema: str, name: str, rows: int) -> None:
    table = sql.Identifier(schema, name)
    conn.execute(sql.SQL("CREATE TABLE {} (id integer)").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, %s)").format(table), (rows,))


def test_a_viewer_sees_only_the_tables_of_granted_pipelines_with_their_counts(hub_world, signed_in):
    _fill(hub_world.conn, hub_world.schema, "sales", 1500)
    _fill(hub_world.conn, hub_world.schema, "staging_sales", 12)
    _fill(hub_world.conn, hub_world.schema, "payroll", 3)  # in the schema, but no granted pipeline names it

    app = go_to(signed_in("viewer"), "warehouse_tables.py")

    assert app.title[0].value == "Warehouse tables"
    assert app.dataframe[0].value.to_dict("records") == [
        {"Schema": hub_world.schema, "Table": "sales", "Rows": 1500},
        {"Schema": hub_world.schema, "Table": "staging_sales", "Rows": 12},
    ]
    assert {m.label: m.value for m in app.metric} == {"Tables": "2", "Total rows": "1,512"}


def test_an_admin_sees_every_table_of_the_hub_schemas_and_refreshes_counts(hub_world, signed_in):
    _fill(hub_world.conn, hub_world.schema, "sales", 2)
    _fill(hub_world.conn, hub_world.schema, "payroll", 3)

    app = go_to(signed_in("admin"), "warehouse_tables.py")
    app.selectbox(key="tables_schema").select(hub_world.schema).run()
    assert app.dataframe[0].value["Table"].tolist() == ["payroll", "sales"]

    hub_world.conn.execute(sql.SQL("INSERT INTO {} VALUES (3)").format(sql.Identifier(hub_world.schema, "sales")))
    app.run()
    assert app.dataframe[0].value["Rows"].tolist() == [3, 2]  # still the cached count
    app.button(key="tables_refresh").click().run()
    assert app.dataframe[0].value["Rows"].tolist() == [3, 3]


def test_a_user_without_grants_is_told_why_the_list_is_empty(hub_world, signed_in):
    _fill(hub_world.conn, hub_world.schema, "sales", 2)

    app = go_to(signed_in("outsider"), "warehouse_tables.py")

    assert not app.dataframe
    assert "no pipeline is granted to you" in app.info[0].value


def test_an_unreachable_warehouse_is_explained_without_a_traceback(hub_world, signed_in, monkeypatch):
    app = signed_in("viewer")
    monkeypatch.setenv("WAREHOUSE_URL", UNREACHABLE_URL)

    app = go_to(app, "warehouse_tables.py")

    assert len(app.error) == 1
    assert "cannot be reached" in app.error[0].value
    assert "Traceback" not in app.error[0].value
    assert not app.dataframe
