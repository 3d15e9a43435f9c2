"""Load semantics through the real assets: replace by sensor vs by a manual group run, batches, the ledger."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from backend.pipelines.specs import load_active_specs
from backend.runs.models import PipelineRunLog
from dagster_code.factory import TAG_TRIGGER, StagingLoadConfig, build_definitions
from dagster_code.resources import WarehouseResource
from tests.factories import PipelineConfigFactory

pytestmark = pytest.mark.django_db

HEADER = "id,name\n"


@pytest.fixture
def group(warehouse_url: str, warehouse_schema: str, tmp_path: Path) -> dict[str, Path]:
    """Pipeline 'Shop' with two replace imports (stores, staff) each holding rows from an earlier load."""
    folders = {}
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for name in ("stores", "staff"):
            for kind in ("stg", "dst"):
                conn.execute(
                    f"CREATE TABLE {warehouse_schema}.{kind}_{name} (id integer, name text, dagster_run_id text)"
                )
            conn.execute(f"INSERT INTO {warehouse_schema}.dst_{name} VALUES (99, 'old', 'run-0')")
            folders[name] = tmp_path / name
            folders[name].mkdir()
            PipelineConfigFactory(
                pipeline_name="Shop",
                import_name=name,
                file_pattern=f"{name}_*.csv",
                monitored_directory=str(folders[name]),
                staging_table=f"{warehouse_schema}.stg_{name}",
                destination_table=f"{warehouse_schema}.dst_{name}",
                load_method="replace",
            )
    return folders


def _definitions(url: str) -> dg.Definitions:
    return build_definitions(load_active_specs(), WarehouseResource(url=url)).definitions


def _run(url: str, files: dict[str, list[Path]], trigger: str = "sensor") -> dg.ExecuteInProcessResult:
    definitions = _definitions(url)
    selection = [f"{name}_extract_and_load_staging" for name in files] + ["Shop_transform"]
    return dg.materialize(
        [a for a in definitions.assets if any(k.to_user_string() in selection for k in a.keys)],
        resources=definitions.resources,
        run_config=dg.RunConfig(
            ops={
                f"{name}_extract_and_load_staging": StagingLoadConfig(file_paths=[str(p) for p in paths])
                for name, paths in files.items()
            }
        ),
        instance=dg.DagsterInstance.ephemeral(),
        tags={TAG_TRIGGER: trigger},
        raise_on_error=False,
    )


def _rows(url: str, table: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT id, name FROM {table} ORDER BY id").fetchall()


def _drop(folder: Path, name: str, rows: str) -> Path:
    path = folder / name
    path.write_text(HEADER + rows)
    return path


def test_a_sensor_run_replaces_only_the_destination_that_received_the_file(group, warehouse_url, warehouse_schema):
    path = _drop(group["stores"], "stores_1.csv", "1,Main street\n2,Harbour\n")

    result = _run(warehouse_url, {"stores": [path]})

    assert result.success
    assert _rows(warehouse_url, f"{warehouse_schema}.dst_stores") == [(1, "Main street"), (2, "Harbour")]
    assert _rows(warehouse_url, f"{warehouse_schema}.dst_staff") == [(99, "old")]


def test_a_manual_run_of_the_whole_group_replaces_every_destination(group, warehouse_url, warehouse_schema):
    stores = _drop(group["stores"], "stores_1.csv", "1,Main street\n")
    staff = _drop(group["staff"], "staff_1.csv", "7,Ann\n")

    result = _run(warehouse_url, {"stores": [stores], "staff": [staff]}, trigger="dashboard")

    assert result.success
    assert _rows(warehouse_url, f"{warehouse_schema}.dst_stores") == [(1, "Main street")]
    assert _rows(warehouse_url, f"{warehouse_schema}.dst_staff") == [(7, "Ann")]


def test_a_batch_of_three_files_into_a_replace_import_keeps_all_of_them_in_arrival_order(
    group, warehouse_url, warehouse_schema
):
    files = [_drop(group["stores"], f"stores_{n}.csv", f"{n},Store {n}\n") for n in (3, 1, 2)]

    result = _run(warehouse_url, {"stores": files})

    assert result.success
    assert _rows(warehouse_url, f"{warehouse_schema}.dst_stores") == [(1, "Store 1"), (2, "Store 2"), (3, "Store 3")]
    staging = result.asset_materializations_for_node("stores_extract_and_load_staging")[0]
    assert list(staging.metadata["files"].value) == [str(f.resolve()) for f in files]


def test_an_empty_file_never_wipes_a_replace_destination(group, warehouse_url, warehouse_schema):
    path = _drop(group["stores"], "stores_empty.csv", "")

    result = _run(warehouse_url, {"stores": [path]})

    assert not result.success
    assert _rows(warehouse_url, f"{warehouse_schema}.dst_stores") == [(99, "old")]
    log = PipelineRunLog.objects.get(dagster_run_id=result.run_id, status="FAILURE")
    assert log.resolution_hint


def test_a_replace_file_dropped_again_is_skipped_without_touching_the_destination(
    group, warehouse_url, warehouse_schema
):
    path = _drop(group["stores"], "stores_1.csv", "1,Main street\n")
    assert _run(warehouse_url, {"stores": [path]}).success
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {warehouse_schema}.dst_stores VALUES (5, 'added by hand', 'x')")

    again = _run(warehouse_url, {"stores": [path]})

    assert again.success
    assert _rows(warehouse_url, f"{warehouse_schema}.dst_stores") == [(1, "Main street"), (5, "added by hand")]
    assert not PipelineRunLog.objects.filter(dagster_run_id=again.run_id, step="transform").exists()


def _reexecutable_job() -> dg.JobDefinition:
    """Every asset of the active configs as one in-process job (rebuilt from the database, as a worker does)."""
    definitions = _definitions(os.environ["LAUNCHPAD_TEST_WAREHOUSE_URL"])
    job = dg.define_asset_job("everything", executor_def=dg.in_process_executor)
    return dg.Definitions(assets=definitions.assets, resources=definitions.resources, jobs=[job]).resolve_job_def(
        "everything"
    )


def test_re_execution_from_failure_moves_the_rows_staged_by_the_first_run_exactly_once(
    warehouse_url, warehouse_schema, tmp_path, monkeypatch
):
    monkeypatch.setenv("LAUNCHPAD_TEST_WAREHOUSE_URL", warehouse_url)
    folder = tmp_path / "orders"
    folder.mkdir()
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {warehouse_schema}.stg_orders (id integer, name text, dagster_run_id text)")
    PipelineConfigFactory(
        pipeline_name="Orders",
        import_name="orders",
        file_pattern="orders_*.csv",
        monitored_directory=str(folder),
        staging_table=f"{warehouse_schema}.stg_orders",
        destination_table=f"{warehouse_schema}.dst_orders",  # not there yet: the transform fails
    )
    path = _drop(folder, "orders_1.csv", "1,Pen\n2,Ink\n")
    job = dg.reconstructable(_reexecutable_job)
    config = {"ops": {"orders_extract_and_load_staging": {"config": {"file_paths": [str(path)]}}}}

    with dg.instance_for_test() as instance:
        with dg.execute_job(job, instance, run_config=config) as first:
            assert not first.success
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {warehouse_schema}.dst_orders (id integer, name text, dagster_run_id text)")
        options = dg.ReexecutionOptions.from_failure(first.run_id, instance)
        with dg.execute_job(job, instance, run_config=config, reexecution_options=options) as retry:
            assert retry.success
            executed = {e.step_key for e in retry.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS}

    assert executed == {"Orders_transform"}  # staging was not run again
    assert _rows(warehouse_url, f"{warehouse_schema}.stg_orders") == [(1, "Pen"), (2, "Ink")]
    assert _rows(warehouse_url, f"{warehouse_schema}.dst_orders") == [(1, "Pen"), (2, "Ink")]
