"""Data steward (Stewards) and analytics settings (Admins) pages, against the real warehouse and app database."""

from __future__ import annotations

import pytest
from psycopg import sql

from backend.pipelines.models import AnalyticsConfig
from tests.analytics_hub.conftest import go_to, run_app


@pytest.fixture
def prices(hub_world) -> str:
    return hub_world.create(
        "sales",
        "sku text primary key, name text not null, price numeric(8,2)",
        [("A-1", "Tent", 99.5), ("B-2", "Mat", 20)],
    )


def _edit(app, row: int, column: str, value) -> None:
    """What the browser sends when a cell is changed in the page's data editor."""
    key = f"steward_editor_{app.session_state['steward_editor_version']}"
    app.session_state[key] = {"edited_rows": {row: {column: value}}, "added_rows": [], "deleted_rows": []}


def _save(app) -> None:
    next(b for b in app.button if b.label == "Save").click()


def _rows(world, table: str) -> list[tuple]:
    schema, name = table.split(".")
    query = sql.SQL("SELECT sku, name, price::text FROM {} ORDER BY sku").format(sql.Identifier(schema, name))
    return world.conn.execute(query).fetchall()


def test_a_steward_edits_a_value_and_the_change_is_audited(hub_world, prices, signed_in):
    app = go_to(signed_in("steward"), "steward.py")
    assert app.selectbox(key="steward_table").options == [prices]
    _edit(app, 0, "price", 89.0)
    app.button(key="steward_save").click()
    app = run_app(app)

    assert "1 row(s) changed" in app.success[0].value
    assert _rows(hub_world, prices) == [("A-1", "Tent", "89.00"), ("B-2", "Mat", "20.00")]
    audit = hub_world.conn.execute(
        "SELECT edited_by, before ->> 'price', after ->> 'price' FROM analytics_audit.data_edits WHERE table_name = %s",
        (prices,),
    ).fetchall()
    assert [(who, float(before), float(after)) for who, before, after in audit] == [("steward", 99.5, 89.0)]


def test_a_second_editor_of_the_same_row_is_refused_and_nothing_changes(hub_world, prices, signed_in):
    app = go_to(signed_in("steward"), "steward.py")
    schema, name = prices.split(".")
    hub_world.conn.execute(
        sql.SQL("UPDATE {} SET price = 75 WHERE sku = 'A-1'").format(sql.Identifier(schema, name))
    )  # someone else saved first

    _edit(app, 0, "price", 89.0)
    app.button(key="steward_save").click()
    app = run_app(app)

    assert "changed by someone else" in app.error[0].value
    assert _rows(hub_world, prices) == [("A-1", "Tent", "75.00"), ("B-2", "Mat", "20.00")]


def test_a_viewer_cannot_open_the_steward_or_settings_pages(hub_world, prices, signed_in):
    app = signed_in("viewer")
    for page in ("steward.py", "settings.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            app.switch_page(f"app_pages/{page}")


def test_an_admin_adds_an_analytics_setting_and_the_webhook_is_never_shown(hub_world, signed_in):
    table = hub_world.create("sales", "day date, amount numeric, qty integer")

    app = go_to(signed_in("admin"), "settings.py")
    app.selectbox(key="settings_target_new").select(table)
    app = run_app(app)
    app.selectbox(key="settings_value").select("qty")
    app.selectbox(key="settings_model").select("anomaly_detection")
    app.text_input(key="settings_webhook").input("https://hooks.example.com/T0/secret-token")
    _save(app)
    app = run_app(app)

    assert app.success[0].value == f"Saved: {table}: qty by day."
    saved = AnalyticsConfig.objects.get()
    assert (saved.target_table, saved.date_column, saved.value_column, saved.model_type) == (
        table,
        "day",
        "qty",
        "anomaly_detection",
    )
    assert saved.alert_webhook_url == "https://hooks.example.com/T0/secret-token"
    assert saved.history.first().history_user.username == "admin"
    shown = app.dataframe[0].value
    assert shown["Alerts"].tolist() == ["webhook set"]
    assert "secret-token" not in str(app._tree)


def test_an_invalid_setting_is_refused_with_the_field_named(hub_world, signed_in):
    table = hub_world.create("sales", "day date, amount numeric")

    app = go_to(signed_in("admin"), "settings.py")
    app.selectbox(key="settings_target_new").select(table)
    app = run_app(app)
    app.text_input(key="settings_webhook").input("not a url")
    _save(app)
    app = run_app(app)

    assert app.error[0].value.startswith("Not saved: alert webhook url:")
    assert AnalyticsConfig.objects.count() == 0
