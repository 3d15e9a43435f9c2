"""A script automates Launchpad over HTTP only: it creates a pipeline, adds a rule, runs it and reads the logs.

Django serves the API (live server), a real Celery worker reloads the code location and launches the
run, and a live Dagster stack loads the file into the warehouse.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from backend.pipelines.demo import create_demo_warehouse
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


class Api:
    """What an automation script holds: a base URL and a token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base = f"{base_url}/api"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, expected: int, **kwargs) -> dict | list:
        response = self.session.request(method, f"{self.base}{path}", timeout=30, **kwargs)
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def wait(self, what: str, check, timeout: float = 150):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            done, last = check()
            if done:
                return last
            time.sleep(0.5)
        pytest.fail(f"{what} did not happen within {timeout:.0f}s (last seen: {last})")


def test_a_script_creates_a_pipeline_adds_a_rule_runs_it_and_reads_its_logs(
    dagster_stack, dagster_client, celery_worker, live_server, settings, tmp_path
):
    settings.LAUNCHPAD_RELOAD_ON_SAVE = True  # saves through the API reach Dagster as a real deployment's do
    create_demo_warehouse(dagster_stack.warehouse_url)
    folder = tmp_path / "incoming"
    folder.mkdir()
    shutil.copy(ROOT / "demo" / "sales_2024-01-01.csv", folder)
    bot = UserFactory(username="ci-bot", is_staff=True)
    bot.groups.add(Group.objects.get(name="Admin"))
    token = Token.objects.create(user=bot).key
    api = Api(live_server.url, token)

    changed_at = datetime.now().astimezone()
    api.call(
        "POST",
        "/pipelines/",
        201,
        json={
            "pipeline_name": "RetailSales",
            "import_name": "api_sales",
            "file_pattern": "sales_*.csv",
            "monitored_directory": str(folder),
            "sensor_enabled": False,
            "staging_table": "staging.daily_sales",
            "destination_table": "dw.sales",
            "transform_procedure": "dw.sp_transform_daily_sales",
            "load_method": "append",
        },
    )
    api.call(
        "POST",
        "/quality-rules/",
        201,
        json={
            "rule_name": "api_amount_not_negative",
            "target_table": "staging.daily_sales",
            "target_column": "amount",
            "check_type": "RANGE",
            "check_expression": '{"min": 0}',
            "severity": "FAIL",
        },
    )

    def reloaded():
        status = api.call("GET", "/code-location/", 200)
        last = status["last_reload"]
        done = (
            status["reload_pending"] is False
            and last is not None
            and last["finished_at"] is not None
            and datetime.fromisoformat(last["requested_at"]) > changed_at
        )
        return done, status

    status = api.wait("the code location reload", reloaded)
    assert status["last_reload"]["ok"], status

    [run] = api.call("POST", "/runs/", 201, json={"imports": ["api_sales"]})
    assert (run["status"], run["trigger"], run["requested_by"]) == ("QUEUED", "api", "ci-bot")

    def finished():
        current = api.call("GET", f"/runs/{run['id']}/", 200)
        return current["is_finished"], current

    run = api.wait("the run", finished)
    assert run["status"] == "SUCCESS", run
    assert run["rows_loaded"] == 24

    logs = api.call("GET", "/run-logs/", 200, params={"dagster_run_id": run["dagster_run_id"]})["results"]
    load = next(log for log in logs if log["import_name"] == "api_sales" and log["step"] == "extract_load")
    assert (load["status"], load["rows_read"], load["rows_loaded"]) == ("SUCCESS", 24, 24)
    quality = api.call("GET", "/quality-logs/", 200, params={"dagster_run_id": run["dagster_run_id"]})["results"]
    assert [(q["rule_name"], q["outcome"], q["rows_checked"]) for q in quality] == [
        ("api_amount_not_negative", "PASS", 24)
    ]
    assert api.call("GET", "/runs/", 200, params={"import": "api_sales", "status": "SUCCESS"})["count"] == 1
