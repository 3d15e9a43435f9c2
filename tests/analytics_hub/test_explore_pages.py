"""Overview and semantic search pages, as a Viewer, over real tables in the test warehouse."""

from __future__ import annotations

import base64
import datetime as dt
import json

import numpy as np

from tests.analytics_hub.conftest import go_to, run_app


def _sales(world) -> str:
    start = dt.date(2024, 1, 1)
    rows = [(i, start + dt.timedelta(days=i % 10), ["North", "South"][i % 2], 10.0 + i) for i in range(40)]
    return world.create("sales", "sale_id integer primary key, day date, region text, amount numeric", rows)


def _figure(app) -> dict:
    return json.loads(app.get("plotly_chart")[0].proto.spec)


def values(data) -> list:
    """A trace's x or y values (plotly sends numeric arrays as base64 typed arrays)."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def test_overview_draws_the_chart_the_columns_call_for_and_lets_the_user_change_it(hub_world, signed_in):
    table = _sales(hub_world)

    app = go_to(signed_in("viewer"), "overview.py")
    key = f"overview_{table}"

    assert app.selectbox(key=f"{key}_kind").value == "line"
    assert (app.selectbox(key=f"{key}_x").value, app.selectbox(key=f"{key}_y").value) == ("day", "amount")
    line = _figure(app)
    assert line["data"][0]["type"] == "scatter" and len(values(line["data"][0]["x"])) == 10  # one point per day

    app.selectbox(key=f"{key}_kind").select("bar")
    app.selectbox(key=f"{key}_x").select("region")
    app = run_app(app)

    bars = _figure(app)["data"][0]
    assert bars["type"] == "bar" and sorted(values(bars["x"])) == ["North", "South"]
    assert sum(values(bars["y"])) == sum(10.0 + i for i in range(40))


def test_overview_charts_every_table_of_granted_pipelines_and_only_those(hub_world, signed_in):
    _sales(hub_world)
    hub_world.create("staging_sales", "region text, qty integer", [("N", 1), ("S", 3), ("N", 2)])
    hub_world.create("payroll", "id integer, salary numeric", [(1, 10.0)])

    app = go_to(signed_in("viewer"), "overview.py")

    granted = [hub_world.table("sales"), hub_world.table("staging_sales")]
    assert app.multiselect(key="overview_tables").options == granted
    assert [s.value for s in app.subheader] == granted
    assert len(app.get("plotly_chart")) == 2
    assert app.selectbox(key=f"overview_{granted[1]}_kind").value == "bar"


def test_search_finds_rows_by_their_text_and_says_which_method_it_uses(hub_world, signed_in, monkeypatch):
    monkeypatch.setenv("LAUNCHPAD_SEMANTIC_BACKEND", "tfidf")
    notes = ["parcel arrived late and damaged", "invoice paid twice by mistake", "great service, fast delivery"]
    table = hub_world.create(
        "staging_sales", "id integer primary key, note text", [(i, notes[i % 3] + f" #{i}") for i in range(30)]
    )

    app = go_to(signed_in("viewer"), "search.py")
    assert "TF-IDF" in app.caption[0].value
    app.selectbox(key="search_table").select(table)
    app = run_app(app)
    app.button(key="search_index").click()
    app = run_app(app)
    assert "30 rows embedded" in app.success[0].value

    app.text_input(key="search_query").input("invoice paid twice")
    app = run_app(app)

    found = app.dataframe[0].value
    assert found.iloc[0]["note"].startswith("invoice paid twice")
    assert list(found["score"]) == sorted(found["score"], reverse=True)
