"""The GraphQL client against a live Dagster stack: documents, reloads, runs, events, sensors, failures."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import graphql
import psycopg
import pytest
import requests
from django.contrib.auth.models import Group

from backend.pipelines.demo import DEMO_RULES, create_demo_pipeline, create_demo_rules, create_demo_warehouse
from backend.pipelines.models import PipelineConfig
from backend.runs.dagster_client import (
    DOCUMENTS,
    NOT_ANSWERING_MESSAGE,
    UNREACHABLE_MESSAGE,
    DagsterClient,
    OrchestratorError,
    OrchestratorUnavailable,
)
from tests.e2e.conftest import DagsterStack, wait_for_run

pytestmark = pytest.mark.e2e

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_FILE = "sales_2024-01-01.csv"
DEMO_ROWS = 24
STAGING = "daily_sales_extract_and_load_staging"
DEMO_ASSETS = [STAGING, "RetailSales_transform"]
SLOW_ASSETS = ["slow_sales_extract_and_load_staging", "SlowSales_transform"]

SLOW_WAREHOUSE_SQL = """
CREATE TABLE IF NOT EXISTS staging.slow_sales (LIKE staging.daily_sales INCLUDING DEFAULTS);
CREATE TABLE IF NOT EXISTS dw.slow_sales (LIKE dw.sales INCLUDING DEFAULTS);
TRUNCATE staging.slow_sales, dw.slow_sales;
CREATE OR REPLACE PROCEDURE dw.sp_slow_transform(run_id text, tables_to_truncate text[])
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(30);
    INSERT INTO dw.slow_sales SELECT * FROM staging.slow_sales AS s WHERE s.dagster_run_id = run_id;
END;
$$;
"""


def _staging_config(import_name: str, *files: Path) -> dict:
    return {"ops": {f"{import_name}_extract_and_load_staging": {"config": {"file_paths": [str(f) for f in files]}}}}


def _count(warehouse_url: str, table: str, run_id: str | None = None) -> int:
    query = f"SELECT count(*) FROM {table}" + (" WHERE dagster_run_id = %s" if run_id else "")
    with psycopg.connect(warehouse_url) as conn:
        return conn.execute(query, (run_id,) if run_id else None).fetchone()[0]


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_incoming(transactional_db, dagster_client: DagsterClient, warehouse_url: str, tmp_path: Path) -> Path:
    """The RetailSales demo (folder watching off, so only our launches run) loaded into the location."""
    for role in ("Operator", "Viewer"):  # roles come from a migration; a transactional flush removes them
        Group.objects.get_or_create(name=role)
    create_demo_warehouse(warehouse_url)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("TRUNCATE staging.daily_sales, dw.sales")
    incoming = tmp_path / "incoming"
    create_demo_pipeline(incoming)
    PipelineConfig.objects.filter(import_name="daily_sales").update(sensor_enabled=False)
    assert dagster_client.reload_location().ok
    return incoming


def _drop_demo_file(incoming: Path) -> Path:
    return Path(shutil.copy(DEMO_DIR / DEMO_FILE, incoming / DEMO_FILE))


def test_every_document_validates_against_the_live_schema(dagster_stack: DagsterStack):
    response = requests.post(dagster_stack.graphql_url, json={"query": graphql.get_introspection_query()}, timeout=30)
    schema = graphql.build_client_schema(response.json()["data"])

    errors = {
        name: [e.message for e in graphql.validate(schema, graphql.parse(doc))] for name, doc in DOCUMENTS.items()
    }

    assert errors == {name: [] for name in DOCUMENTS}


def test_a_new_config_appears_after_a_reload_without_restarting_anything(
    transactional_db, dagster_stack: DagsterStack, dagster_client: DagsterClient, warehouse_url: str, tmp_path: Path
):
    pids = {name: proc.pid for name, proc in dagster_stack.processes.items()}
    assert dagster_client.reload_location().ok
    assert STAGING not in dagster_client.location_definitions().asset_names
    for role in ("Operator", "Viewer"):
        Group.objects.get_or_create(name=role)
    create_demo_warehouse(warehouse_url)
    create_demo_pipeline(tmp_path / "incoming")

    result = dagster_client.reload_location()

    assert (result.ok, result.error) == (True, "")
    definitions = dagster_client.location_definitions()
    assert set(DEMO_ASSETS) <= definitions.asset_names
    assert "daily_sales_file_sensor" in definitions.sensor_names
    assert {name: proc.pid for name, proc in dagster_stack.processes.items()} == pids
    assert all(proc.poll() is None for proc in dagster_stack.processes.values())


def test_a_launched_run_loads_the_file_and_is_found_by_tag_and_events(
    demo_incoming: Path, dagster_client: DagsterClient, warehouse_url: str
):
    path = _drop_demo_file(demo_incoming)
    tags = {"launchpad/import": "daily_sales", "launchpad/user": "operator", "launchpad/import_run_id": "4242"}

    run_id = dagster_client.launch_run(DEMO_ASSETS, tags=tags, run_config=_staging_config("daily_sales", path))
    info = wait_for_run(dagster_client, run_id)

    assert info.status == "SUCCESS"
    assert info.start_time is not None and info.end_time is not None and info.end_time >= info.start_time
    assert {k: info.tags[k] for k in tags} == tags
    assert _count(warehouse_url, "dw.sales") == DEMO_ROWS
    assert _count(warehouse_url, "dw.sales", run_id) == DEMO_ROWS
    assert [r.run_id for r in dagster_client.runs_with_tag("launchpad/import_run_id", "4242")] == [run_id]
    assert dagster_client.runs_with_tag("launchpad/import_run_id", "4243") == []
    events = dagster_client.run_events(run_id)
    assert not events.has_more
    staging_messages = [e.message for e in events.events if e.step_key == STAGING]
    assert f"{path.name}: {DEMO_ROWS} rows loaded into staging.daily_sales" in staging_messages
    succeeded = {e.step_key for e in events.events if e.event_type == "ExecutionStepSuccessEvent"}
    assert succeeded == set(DEMO_ASSETS)
    assert events.events[-1].timestamp >= events.events[0].timestamp > 0
    assert "RunSuccessEvent" in {e.event_type for e in events.events}


def test_demo_quality_rules_are_asset_checks_with_pass_and_fail_results(
    demo_incoming: Path, dagster_client: DagsterClient, warehouse_url: str
):
    create_demo_rules()
    assert dagster_client.reload_location().ok
    names = {rule[0] for rule in DEMO_RULES}
    assert {(c.name, c.blocking, c.latest_status) for c in dagster_client.asset_checks(STAGING)} == {
        (name, severity == "FAIL", None) for name, _, _, _, severity, _ in DEMO_RULES
    }

    good = _drop_demo_file(demo_incoming)
    good_run = dagster_client.launch_run(DEMO_ASSETS, tags={}, run_config=_staging_config("daily_sales", good))
    assert wait_for_run(dagster_client, good_run).status == "SUCCESS"
    checks = {c.name: c for c in dagster_client.asset_checks(STAGING)}
    assert set(checks) == names
    assert {(c.latest_status, c.latest_run_id) for c in checks.values()} == {("SUCCEEDED", good_run)}

    bad = demo_incoming / "sales_2024-01-20.csv"
    bad.write_text(
        "sale_id,sale_date,region,product_sku,quantity,amount\n"
        "7001,2024-01-20,North,SKU-1,2,-5.00\n7002,2024-01-20,South,SKU-2,0,3.00\n"
    )
    bad_run = dagster_client.launch_run(DEMO_ASSETS, tags={}, run_config=_staging_config("daily_sales", bad))
    assert wait_for_run(dagster_client, bad_run).status == "FAILURE"
    checks = {c.name: c for c in dagster_client.asset_checks(STAGING)}
    assert (checks["sales_amount_not_negative"].latest_status, checks["sales_amount_not_negative"].latest_run_id) == (
        "FAILED",
        bad_run,
    )
    assert checks["sales_quantity_positive"].latest_status == "FAILED"  # a warning, reported but not blocking
    assert checks["sales_id_unique"].latest_status == "SUCCEEDED"
    assert _count(warehouse_url, "dw.sales") == DEMO_ROWS


def test_run_events_page_with_a_cursor(demo_incoming: Path, dagster_client: DagsterClient):
    run_id = dagster_client.launch_run(
        DEMO_ASSETS, tags={}, run_config=_staging_config("daily_sales", _drop_demo_file(demo_incoming))
    )
    wait_for_run(dagster_client, run_id)
    # the run's process may still write its last engine events just after the run reports its end
    everything, deadline = dagster_client.run_events(run_id).events, time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(1)
        again = dagster_client.run_events(run_id).events
        if again == everything:
            break
        everything = again

    pages, cursor, has_more = [], None, True
    while has_more:
        page = dagster_client.run_events(run_id, after_cursor=cursor, limit=7)
        pages.extend(page.events)
        cursor, has_more = page.cursor, page.has_more

    assert len(everything) > 7
    assert pages == list(everything)


def test_a_failed_step_reports_a_plain_message_and_keeps_the_trace_apart(
    demo_incoming: Path, dagster_client: DagsterClient, warehouse_url: str
):
    missing = demo_incoming / "sales_2099-01-01.csv"

    run_id = dagster_client.launch_run(DEMO_ASSETS, tags={}, run_config=_staging_config("daily_sales", missing))
    info = wait_for_run(dagster_client, run_id)

    assert info.status == "FAILURE"
    assert _count(warehouse_url, "staging.daily_sales", run_id) == 0
    events = dagster_client.run_events(run_id).events
    failure = next(e for e in events if e.event_type == "ExecutionStepFailureEvent")
    assert failure.step_key == STAGING
    assert failure.level == "ERROR"
    assert "Traceback" not in failure.message and 'File "' not in failure.message
    assert "is no longer in" in failure.detail
    assert 'File "' in failure.detail
    assert "RetailSales_transform" not in {e.step_key for e in events if e.event_type == "ExecutionStepSuccessEvent"}


def test_terminating_a_running_run_cancels_it_before_its_work_finishes(
    demo_incoming: Path, dagster_client: DagsterClient, warehouse_url: str
):
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(SLOW_WAREHOUSE_SQL)
    PipelineConfig.objects.create(
        pipeline_name="SlowSales",
        import_name="slow_sales",
        file_pattern="sales_*.csv",
        monitored_directory=str(demo_incoming),
        sensor_enabled=False,
        staging_table="staging.slow_sales",
        destination_table="dw.slow_sales",
        transform_procedure="dw.sp_slow_transform",
        load_method="append",
    )
    assert dagster_client.reload_location().ok
    run_id = dagster_client.launch_run(
        SLOW_ASSETS, tags={}, run_config=_staging_config("slow_sales", _drop_demo_file(demo_incoming))
    )
    deadline = time.monotonic() + 60
    while not any(
        e.event_type == "ExecutionStepStartEvent" and e.step_key == "SlowSales_transform"
        for e in dagster_client.run_events(run_id).events
    ):
        assert time.monotonic() < deadline, "the slow transform never started"
        time.sleep(0.5)

    terminated_at = time.monotonic()
    dagster_client.terminate_run(run_id)
    info = wait_for_run(dagster_client, run_id, timeout=60)

    assert info.status == "CANCELED"
    assert time.monotonic() - terminated_at < 25  # well before the 30 s sleep would have ended
    assert _count(warehouse_url, "staging.slow_sales", run_id) == DEMO_ROWS
    assert _count(warehouse_url, "dw.slow_sales") == 0
    dagster_client.terminate_run(run_id)  # a finished run: nothing to stop, no error


def test_a_location_that_fails_to_load_reports_why_on_reload(dagster_stack: DagsterStack):
    probe = dagster_stack.client(location_name=dagster_stack.probe_location)
    dagster_stack.probe_fail_flag.touch()
    try:
        failed = probe.reload_location()
        status = probe.location_status()
    finally:
        dagster_stack.probe_fail_flag.unlink()

    assert failed.ok is False
    assert failed.error == "RuntimeError: load_probe was told to fail"
    assert 'File "' in failed.detail and "load_probe.py" in failed.detail
    assert (status.loaded, status.error) == (False, failed.error)
    assert probe.reload_location().ok
    assert probe.location_definitions().asset_names == {"probe_asset"}


def test_a_sensor_is_started_and_stopped(demo_incoming: Path, dagster_client: DagsterClient):
    name = "daily_sales_file_sensor"
    assert dagster_client.sensor_state(name).running is False  # watching is off in this config
    try:
        assert dagster_client.set_sensor_running(name, True).running is True
        assert dagster_client.sensor_state(name).running is True
        assert dagster_client.set_sensor_running(name, True).running is True  # already running: no-op
        assert dagster_client.set_sensor_running(name, False).running is False
        assert dagster_client.sensor_state(name).running is False
        assert dagster_client.set_sensor_running(name, True).running is True
    finally:
        dagster_client.set_sensor_running(name, False)
    assert dagster_client.sensor_state(name).running is False


def test_an_unknown_sensor_is_a_plain_orchestrator_error(demo_incoming: Path, dagster_client: DagsterClient):
    with pytest.raises(OrchestratorError) as raised:
        dagster_client.set_sensor_running("no_such_file_sensor", True)

    assert raised.value.message.startswith("The orchestrator has no such file sensor.")
    assert "SensorNotFoundError" in raised.value.detail


def test_refused_launches_are_plain_errors_and_start_nothing(
    demo_incoming: Path, dagster_client: DagsterClient, read_only_webserver: str
):
    before = dagster_client.runs_with_tag("launchpad/import", "refused")
    tags = {"launchpad/import": "refused"}

    with pytest.raises(OrchestratorError) as unknown_asset:
        dagster_client.launch_run(["no_such_asset"], tags=tags)
    with pytest.raises(OrchestratorError) as bad_config:
        dagster_client.launch_run(DEMO_ASSETS, tags=tags, run_config={"ops": {STAGING: {"config": {"nope": 1}}}})
    with pytest.raises(OrchestratorError) as read_only:
        DagsterClient(read_only_webserver).launch_run(DEMO_ASSETS, tags=tags)

    assert "Reload the code location" in unknown_asset.value.message
    assert "no_such_asset" in unknown_asset.value.detail
    assert bad_config.value.message == "The orchestrator refused the run's settings."
    assert "RunConfigValidationInvalid" in bad_config.value.detail and "nope" in bad_config.value.detail
    assert "read-only" in read_only.value.message
    assert "UnauthorizedError" in read_only.value.detail
    assert before == [] and dagster_client.runs_with_tag("launchpad/import", "refused") == []


def test_python_errors_sent_as_http_500_and_typed_errors_become_plain_orchestrator_errors(
    dagster_client: DagsterClient,
):
    with pytest.raises(OrchestratorError) as server_error:
        dagster_client.runs_with_tag("launchpad/import", "x", limit=-1)  # Dagster's SQL refuses a negative LIMIT
    with pytest.raises(OrchestratorError) as unknown_run:
        dagster_client.terminate_run("no-such-run")

    assert server_error.value.message == "The orchestrator hit an internal error."
    assert "HTTP 500" in server_error.value.detail and "LIMIT must not be negative" in server_error.value.detail
    assert unknown_run.value.message == "The orchestrator has no record of this run."
    assert "RunNotFoundError" in unknown_run.value.detail


def test_an_unreachable_orchestrator_is_reported_plainly_within_seconds():
    client = DagsterClient(f"http://127.0.0.1:{_closed_port()}/graphql", timeout=2)
    started = time.monotonic()

    with pytest.raises(OrchestratorUnavailable) as launch:
        client.launch_run(DEMO_ASSETS, tags={})
    with pytest.raises(OrchestratorUnavailable) as status:
        client.run_statuses(["some-run"])

    assert time.monotonic() - started < 8
    assert launch.value.message == status.value.message == UNREACHABLE_MESSAGE
    assert "127.0.0.1" in launch.value.detail and "attempt 3" in launch.value.detail


def test_a_url_that_is_not_graphql_is_reported_as_not_answering(dagster_stack: DagsterStack):
    client = DagsterClient(dagster_stack.graphql_url.replace("/graphql", "/no-graphql-here"), attempts=1)

    with pytest.raises(OrchestratorUnavailable) as raised:
        client.run_statuses(["some-run"])

    assert raised.value.message == NOT_ANSWERING_MESSAGE
    assert "HTTP" in raised.value.detail


def test_a_run_keeps_its_pinned_config_when_the_import_is_deactivated_after_launch(
    demo_incoming: Path, dagster_client: DagsterClient, warehouse_url: str
):
    path = _drop_demo_file(demo_incoming)

    run_id = dagster_client.launch_run(DEMO_ASSETS, tags={}, run_config=_staging_config("daily_sales", path))
    PipelineConfig.objects.filter(import_name="daily_sales").update(is_active=False)
    deactivated_at = time.time()
    assert dagster_client.reload_location().ok
    assert STAGING not in dagster_client.location_definitions().asset_names
    info = wait_for_run(dagster_client, run_id)

    assert info.status == "SUCCESS"
    assert _count(warehouse_url, "dw.sales", run_id) == DEMO_ROWS
    worker = next(
        e for e in dagster_client.run_events(run_id).events if e.message.startswith("Started process for run")
    )
    assert worker.timestamp > deactivated_at  # the worker loaded the code after the import was gone
