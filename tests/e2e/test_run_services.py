"""Launch, sync, adopt and reload through the services, against the live Dagster stack."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from backend.pipelines.demo import create_demo_warehouse
from backend.pipelines.models import PipelineConfig, PipelinePermission
from backend.runs import services
from backend.runs.dagster_client import DagsterClient, OrchestratorUnavailable
from backend.runs.models import CodeLocationReload, ImportRun, RunStatus
from tests.e2e.conftest import make_demo_import
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_import(dagster_stack, dagster_client, tmp_path) -> Path:
    create_demo_warehouse(dagster_stack.warehouse_url)
    folder = tmp_path / "in"
    make_demo_import("svc_sales", folder)
    shutil.copy(ROOT / "demo" / "sales_2024-01-01.csv", folder)
    assert dagster_client.reload_location().ok
    return folder


def _sync_until_finished(client: DagsterClient, run: ImportRun, timeout: float = 120) -> ImportRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services.import_runs_sync(client)
        run.refresh_from_db()
        if run.is_finished:
            return run
        time.sleep(0.5)
    pytest.fail(f"run {run.pk} still {run.status} after {timeout}s")


def test_a_launched_run_is_synced_to_success_with_its_row_count(demo_import, dagster_client):
    (run,) = services.import_run_create(None, ["svc_sales"])
    services.import_runs_launch_queued([run.pk], dagster_client)
    run.refresh_from_db()
    assert run.status == RunStatus.STARTING and run.dagster_run_id

    run = _sync_until_finished(dagster_client, run)

    assert run.status == RunStatus.SUCCESS
    assert run.rows_loaded == 24
    assert run.started_at and run.finished_at and run.finished_at >= run.started_at
    assert run.error_summary == ""
    tags = dagster_client.run_statuses([run.dagster_run_id])[run.dagster_run_id].tags
    assert tags["launchpad/import_run_id"] == str(run.pk) and tags["launchpad/import"] == "svc_sales"


def test_a_redelivered_launch_adopts_the_run_instead_of_starting_another(demo_import, dagster_client):
    (run,) = services.import_run_create(None, ["svc_sales"])
    services.import_runs_launch_queued([run.pk], dagster_client)
    run.refresh_from_db()
    first = run.dagster_run_id
    # The worker died after launchRun but before saving: our row still says QUEUED.
    ImportRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED, dagster_run_id="")

    services.import_runs_launch_queued([run.pk], dagster_client)

    run.refresh_from_db()
    assert run.dagster_run_id == first
    assert [r.run_id for r in dagster_client.runs_with_tag("launchpad/import_run_id", str(run.pk))] == [first]


def test_queued_runs_wait_for_the_orchestrator_and_launch_once_it_is_back(demo_import, dagster_client):
    (run,) = services.import_run_create(None, ["svc_sales"])
    down = DagsterClient("http://127.0.0.1:9/graphql", timeout=1, attempts=1)

    with pytest.raises(OrchestratorUnavailable):
        services.import_runs_launch_queued([run.pk], down)
    run.refresh_from_db()
    assert (run.status, run.dagster_run_id) == (RunStatus.QUEUED, "")
    with pytest.raises(OrchestratorUnavailable):
        services.import_runs_sync(down)
    assert services.orchestrator_status()["available"] is False

    ImportRun.objects.filter(pk=run.pk).update(created_at=run.created_at - services.STALE_QUEUED_AFTER)
    services.import_runs_sync(dagster_client)

    run.refresh_from_db()
    assert run.dagster_run_id
    assert services.orchestrator_status()["available"] is True
    assert _sync_until_finished(dagster_client, run).status == RunStatus.SUCCESS


def test_runs_started_by_a_file_sensor_appear_as_import_runs(dagster_stack, dagster_client, tmp_path):
    create_demo_warehouse(dagster_stack.warehouse_url)
    folder = tmp_path / "watched"
    make_demo_import("watched_sales", folder, sensor=True)
    assert dagster_client.reload_location().ok
    assert dagster_client.sensor_state("watched_sales_file_sensor").running
    path = Path(shutil.copy(ROOT / "demo" / "sales_2024-01-02.csv", folder))
    os.utime(path, (time.time() - 60, time.time() - 60))

    deadline = time.monotonic() + 90
    adopted = None
    while adopted is None and time.monotonic() < deadline:
        services.import_runs_sync(dagster_client)
        adopted = ImportRun.objects.filter(trigger=ImportRun.Trigger.SENSOR, import_names=["watched_sales"]).first()
        time.sleep(1)
    assert adopted is not None, "the sensor's run never showed up"
    assert adopted.pipeline_name == "RetailSales"
    assert _sync_until_finished(dagster_client, adopted).status == RunStatus.SUCCESS
    dagster_client.set_sensor_running("watched_sales_file_sensor", False)


def test_ten_config_edits_ask_for_one_reload_which_is_recorded(demo_import, dagster_client, settings):
    settings.LAUNCHPAD_RELOAD_ON_SAVE = True
    queue = redis.Redis.from_url(settings.REDIS_URL)
    queue.delete(services.RELOAD_PENDING_KEY)
    before = queue.llen("celery")
    config = PipelineConfig.objects.get(import_name="svc_sales")
    for number in range(10):
        config.description = f"edit {number}"
        config.save()

    assert queue.llen("celery") == before + 1
    assert queue.exists(services.RELOAD_PENDING_KEY)

    record = services.code_location_reload(dagster_client)
    assert (record.ok, record.error) == (True, "")
    assert not queue.exists(services.RELOAD_PENDING_KEY)
    assert CodeLocationReload.objects.first() == record


def test_run_import_command_waits_and_exits_zero_only_on_success(demo_import, dagster_client, capsys):
    call_command("run_import", "svc_sales", "--wait", "--timeout", "120")
    out = capsys.readouterr().out
    assert "svc_sales: Succeeded, 24 rows" in out and "All imports succeeded." in out

    (demo_import / "sales_2024-03-01.csv").write_text("sale_id,sale_date\n1,not-a-date\n")
    with pytest.raises(Exception, match="Not successful: svc_sales"):
        call_command("run_import", "svc_sales", "--wait", "--timeout", "120")
    assert "svc_sales: Failed" in capsys.readouterr().out


def test_the_orchestrator_url_comes_from_settings():
    assert services.dagster_client().url == settings.DAGSTER_GRAPHQL_URL


SLOW_PROCEDURE = """
CREATE OR REPLACE PROCEDURE dw.sp_slow_transform(run_id text, tables_to_truncate text[])
LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(120); END; $$;
"""


def _slow_import(stack, client: DagsterClient, name: str, folder: Path, demo_file: str) -> None:
    """An import whose transform sleeps for two minutes, with a file waiting, loaded in the code location."""
    create_demo_warehouse(stack.warehouse_url)
    with psycopg.connect(stack.warehouse_url, autocommit=True) as conn:
        conn.execute(SLOW_PROCEDURE)
    config = make_demo_import(name, folder)
    PipelineConfig.objects.filter(pk=config.pk).update(transform_procedure="dw.sp_slow_transform")
    shutil.copy(ROOT / "demo" / demo_file, folder)
    assert client.reload_location().ok


def test_a_run_whose_process_dies_is_marked_failed_not_left_running(dagster_stack, dagster_client, tmp_path):
    _slow_import(dagster_stack, dagster_client, "slow_sales", tmp_path / "slow", "sales_2024-01-01.csv")
    (run,) = services.import_run_create(None, ["slow_sales"])
    services.import_runs_launch_queued([run.pk], dagster_client)
    run.refresh_from_db()

    pid = None
    deadline = time.monotonic() + 90
    while pid is None and time.monotonic() < deadline:
        for event in dagster_client.run_events(run.dagster_run_id).events:
            match = re.search(r"Started process for run \(pid: (\d+)\)", event.message)
            if match and event.step_key is None:
                pid = int(match.group(1))
        time.sleep(0.5)
    assert pid, "the run worker never started"
    os.kill(pid, signal.SIGKILL)

    run = _sync_until_finished(dagster_client, run, timeout=180)
    assert run.status == RunStatus.FAILURE
    assert run.error_summary


def test_admin_actions_toggle_the_sensor_and_show_the_last_reload(
    dagster_stack, dagster_client, admin_client, tmp_path
):
    config = make_demo_import("toggled_sales", tmp_path / "toggled", sensor=True)
    assert services.code_location_reload(dagster_client).ok
    assert dagster_client.sensor_state("toggled_sales_file_sensor").running
    url = reverse("admin:pipelines_pipelineconfig_changelist")

    response = admin_client.post(url, {"action": "disable_sensor", "_selected_action": [config.pk]}, follow=True)

    assert "No longer watching the folder: toggled_sales." in response.content.decode()
    assert dagster_client.sensor_state("toggled_sales_file_sensor").running is False
    config.refresh_from_db()
    assert config.sensor_enabled is False and config.history.count() == 2
    admin_client.post(url, {"action": "enable_sensor", "_selected_action": [config.pk]})
    assert dagster_client.sensor_state("toggled_sales_file_sensor").running is True
    page = admin_client.get(url).content.decode()
    assert "Last reload of the code location: loaded at" in page
    dagster_client.set_sensor_running("toggled_sales_file_sensor", False)


def test_admin_run_now_queues_the_selected_imports(demo_import, admin_client):
    config = PipelineConfig.objects.get(import_name="svc_sales")
    url = reverse("admin:pipelines_pipelineconfig_changelist")
    response = admin_client.post(url, {"action": "run_now", "_selected_action": [config.pk]}, follow=True)
    assert "Started 1 run(s)" in response.content.decode()
    run = ImportRun.objects.get()
    assert (run.trigger, run.import_names) == ("admin", ["svc_sales"])


def test_an_operator_cancels_a_running_import(dagster_stack, dagster_client, client, tmp_path):
    _slow_import(dagster_stack, dagster_client, "cancel_sales", tmp_path / "cancel", "sales_2024-01-02.csv")
    operator = UserFactory(username="canceller")
    operators = Group.objects.get(name="Operator")
    operator.groups.add(operators)
    PipelinePermission.objects.create(group=operators, pipeline_name="RetailSales", can_run=True)
    (run,) = services.import_run_create(operator, ["cancel_sales"])
    services.import_runs_launch_queued([run.pk], dagster_client)
    run.refresh_from_db()
    deadline = time.monotonic() + 60
    while run.status != RunStatus.STARTED and time.monotonic() < deadline:
        services.import_runs_sync(dagster_client)
        run.refresh_from_db()
        time.sleep(0.5)
    client.force_login(operator)

    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert "Cancel this run" in page and "cancel_sales: version 1" in page
    response = client.post(reverse("runs:cancel", args=[run.pk]), follow=True)

    assert "Cancel requested" in response.content.decode()
    assert _sync_until_finished(dagster_client, run).status == RunStatus.CANCELED
