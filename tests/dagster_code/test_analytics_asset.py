"""The daily analytics asset over a real warehouse: predictions recorded, new anomalies alerted once, one broken
setting reported without stopping the others."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import numpy as np
import psycopg
import pytest
from psycopg import sql

from backend.pipelines.models import AnalyticsConfig
from backend.runs.models import AnalyticsPrediction
from dagster_code.analytics import ANALYTICS_ASSET, ANALYTICS_SCHEDULE, run_predictive_analytics
from dagster_code.factory import build_definitions
from dagster_code.resources import WarehouseResource

START = dt.date(2023, 1, 1)
DAYS = 400
SPIKE = START + dt.timedelta(days=300)


@pytest.fixture
def alerts() -> Iterator[tuple[list[dict], str]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield received, f"http://127.0.0.1:{server.server_port}/alerts"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def daily_sales(warehouse: psycopg.Connection, warehouse_schema: str) -> str:
    """400 days of weekly-seasonal sales (two rows a day) with one day ten times its usual level."""
    table = sql.Identifier(warehouse_schema, "daily")
    warehouse.execute(sql.SQL("CREATE TABLE {} (day date, amount numeric, note text)").format(table))
    rng = np.random.default_rng(7)
    rows = []
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        level = 100 + 0.05 * i + 20 * (day.weekday() >= 5) + rng.normal(0, 2)
        level = level * 10 if day == SPIKE else level
        rows += [(day, round(level / 2, 2), "a"), (day, round(level / 2, 2), "b")]
    with warehouse.cursor() as cur:
        cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(table), rows)
    return f"{warehouse_schema}.daily"


def _materialize(warehouse_url: str) -> dg.ExecuteInProcessResult:
    """Materialize in a throw-away instance disposed here, in this thread (not later by the garbage collector in
    whatever thread it runs, e.g. a Streamlit script thread of a later test)."""
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [run_predictive_analytics],
            resources={"warehouse": WarehouseResource(url=warehouse_url)},
            instance=instance,
            raise_on_error=False,
        )


def test_forecasts_and_anomalies_are_recorded_and_new_anomalies_alerted_once(db, warehouse_url, daily_sales, alerts):
    received, hook = alerts
    forecast = AnalyticsConfig.objects.create(
        target_table=daily_sales, date_column="day", value_column="amount", model_type="forecast", horizon=14
    )
    scan = AnalyticsConfig.objects.create(
        target_table=daily_sales,
        date_column="day",
        value_column="amount",
        model_type="anomaly_detection",
        alert_webhook_url=hook,
    )

    result = _materialize(warehouse_url)

    assert result.success
    ahead = AnalyticsPrediction.objects.filter(config=forecast).order_by("period")
    last_day = START + dt.timedelta(days=DAYS - 1)
    assert [p.period for p in ahead] == [last_day + dt.timedelta(days=k) for k in range(1, 15)]
    assert all(p.lower_bound <= p.predicted_value <= p.upper_bound for p in ahead)
    assert all(80 < p.predicted_value < 200 for p in ahead)  # the level of the series, not the spike
    scanned = AnalyticsPrediction.objects.filter(config=scan)
    assert scanned.count() == DAYS
    assert scanned.get(period=SPIKE).is_anomaly
    assert scanned.get(period=SPIKE).actual_value > 900  # the day's two rows summed in SQL
    flagged = set(scanned.filter(is_anomaly=True).values_list("period", flat=True))
    assert len(flagged) <= 10  # the spike, and at most a few borderline days
    assert len(received) == 1
    assert received[0]["event"] == "new_anomalies" and received[0]["table"] == daily_sales
    assert SPIKE.isoformat() in {a["period"] for a in received[0]["anomalies"]}

    again = _materialize(warehouse_url)

    assert again.success
    assert len(received) == 1  # nothing new: no second alert
    assert AnalyticsPrediction.objects.filter(config=scan).count() == DAYS


def test_a_broken_setting_is_reported_and_the_others_still_run(db, warehouse_url, daily_sales):
    AnalyticsConfig.objects.create(
        target_table=daily_sales.split(".")[0] + ".gone",
        date_column="day",
        value_column="amount",
        model_type="forecast",
    )
    good = AnalyticsConfig.objects.create(
        target_table=daily_sales, date_column="day", value_column="amount", model_type="forecast", horizon=3
    )

    result = _materialize(warehouse_url)

    assert result.success
    assert AnalyticsPrediction.objects.filter(config=good).count() == 3
    materialization = result.asset_materializations_for_node(ANALYTICS_ASSET)[0]
    assert materialization.metadata["failed"].data == [f"forecast {daily_sales.split('.')[0]}.gone.amount"]


def test_an_unreachable_webhook_does_not_fail_the_run(db, warehouse_url, daily_sales):
    scan = AnalyticsConfig.objects.create(
        target_table=daily_sales,
        date_column="day",
        value_column="amount",
        model_type="anomaly_detection",
        alert_webhook_url="http://127.0.0.1:1/alerts",
    )

    result = _materialize(warehouse_url)

    assert result.success
    assert AnalyticsPrediction.objects.filter(config=scan, period=SPIKE, is_anomaly=True).exists()


def test_the_asset_and_its_daily_schedule_are_in_the_definitions(db, warehouse_url):
    from backend.pipelines.specs import load_active_specs

    definitions = build_definitions(load_active_specs(), WarehouseResource(url=warehouse_url)).definitions

    assert definitions.resolve_assets_def(ANALYTICS_ASSET).key == dg.AssetKey(ANALYTICS_ASSET)
    schedule = definitions.resolve_schedule_def(ANALYTICS_SCHEDULE)
    assert schedule.cron_schedule == "30 5 * * *"
