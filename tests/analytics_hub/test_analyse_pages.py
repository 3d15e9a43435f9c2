"""Forecast, anomalies and root-cause pages as a Viewer, over real tables in the test warehouse."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from backend.pipelines.models import AnalyticsConfig
from tests.analytics_hub.conftest import go_to, run_app

START = dt.date(2024, 1, 1)
DAYS = 150
SPIKE_DAY = START + dt.timedelta(days=100)


@pytest.fixture
def daily(hub_world) -> str:
    """150 days of weekly-seasonal sales in two regions and channels; one day five times its usual level."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        for region in ("North", "South"):
            for channel in ("Store", "Web"):
                amount = 50 + 15 * (day.weekday() >= 5) + rng.normal(0, 1.5)
                if day == SPIKE_DAY and region == "North":
                    amount *= 5
                if i >= 120 and region == "South" and channel == "Web":
                    amount *= 0.2  # the last 30 days: South Web collapses
                rows.append((day, region, channel, round(amount, 2)))
    return hub_world.create("sales", "day date, region text, channel text, amount numeric", rows)


def test_a_viewer_forecasts_a_saved_series(daily, signed_in):
    AnalyticsConfig.objects.create(
        target_table=daily, date_column="day", value_column="amount", model_type="forecast", horizon=21
    )

    app = go_to(signed_in("viewer"), "forecast.py")
    assert app.selectbox(key="forecast_series").value == f"{daily}: amount by day"
    assert app.number_input(key="forecast_horizon").value == 21
    app.button(key="forecast_run").click()
    app = run_app(app)

    assert not app.error
    assert "21 periods ahead, method" in app.success[0].value
    table = app.dataframe[0].value
    assert len(table) == 21
    assert table["period"].iloc[0] == np.datetime64(START + dt.timedelta(days=DAYS))
    assert (table["lower"] <= table["forecast"]).all() and (table["forecast"] <= table["upper"]).all()
    assert app.get("plotly_chart")


def test_a_viewer_picks_columns_and_finds_the_planted_anomaly(daily, signed_in):
    app = go_to(signed_in("viewer"), "anomalies.py")
    app.selectbox(key="anomalies_series").select("Choose columns myself")
    app = run_app(app)
    app.selectbox(key="anomalies_table").select(daily)
    app = run_app(app)
    assert app.selectbox(key="anomalies_date").value == "day"
    assert app.selectbox(key="anomalies_value").value == "amount"
    app.button(key="anomalies_run").click()
    app = run_app(app)

    assert not app.error
    found = app.dataframe[0].value
    assert found.iloc[0]["period"] == np.datetime64(SPIKE_DAY)  # highest score first
    assert len(found) <= 8


def test_a_viewer_sees_which_segment_explains_a_drop(daily, signed_in):
    app = go_to(signed_in("viewer"), "root_cause.py")
    app.selectbox(key="root_table").select(daily)
    app = run_app(app)
    app.multiselect(key="root_dimensions").set_value(["region", "channel"])
    app.date_input(key="root_baseline").set_value((START + dt.timedelta(days=102), START + dt.timedelta(days=119)))
    app.date_input(key="root_current").set_value((START + dt.timedelta(days=120), START + dt.timedelta(days=137)))
    app = run_app(app)
    app.button(key="root_run").click()
    app = run_app(app)

    assert not app.error
    ranked = app.dataframe[0].value
    top = ranked.iloc[0]
    assert top["segment"] == "region = South, channel = Web"  # the precise segment, before its parents
    assert top["change"] < 0 and top["contribution"] > 0.9


def test_pages_explain_a_table_without_usable_columns(hub_world, signed_in):
    table = hub_world.create("sales", "id integer, note text", [(1, "x")])

    app = go_to(signed_in("viewer"), "forecast.py")
    app.selectbox(key="forecast_series").select("Choose columns myself")
    app = run_app(app)
    app.selectbox(key="forecast_table").select(table)
    app = run_app(app)

    assert "needs a date or timestamp column and a number column" in app.info[0].value
