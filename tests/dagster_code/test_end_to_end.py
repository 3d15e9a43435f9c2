"""A demo file goes through the demo group: staging, transform, destination rows equal to the file."""

from __future__ import annotations

import csv
import hashlib
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from backend.pipelines.demo import create_demo_pipeline
from backend.pipelines.models import PipelineConfig
from backend.pipelines.specs import load_active_specs
from backend.runs.models import LoadedFile, PipelineRunLog
from dagster_code.factory import StagingLoadConfig, build_definitions
from dagster_code.resources import WarehouseResource
from tests.dagster_code.conftest import drop_demo_file

pytestmark = pytest.mark.django_db


def _materialize(report, files: list[Path], force: bool = False) -> dg.ExecuteInProcessResult:
    config = dg.RunConfig(
        ops={"daily_sales_extract_and_load_staging": StagingLoadConfig(file_paths=[str(f) for f in files], force=force)}
    )
    return dg.materialize(
        list(report.definitions.assets),
        resources=report.definitions.resources,
        run_config=config,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _file_rows(path: Path) -> list[tuple]:
    with path.open(newline="") as handle:
        return sorted(
            (int(r["sale_id"]), r["sale_date"], r["region"], r["product_sku"], int(r["quantity"]), Decimal(r["amount"]))
            for r in csv.DictReader(handle)
        )


def _destination_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT sale_id, sale_date::text, region, product_sku, quantity, amount FROM dw.sales ORDER BY sale_id"
        ).fetchall()


def test_a_demo_file_reaches_the_destination_table(demo_pipeline, demo_warehouse, incoming):
    path = drop_demo_file(incoming)

    result = _materialize(demo_pipeline, [path])

    assert result.success
    assert _destination_rows(demo_warehouse) == _file_rows(path)
    staging = result.asset_materializations_for_node("daily_sales_extract_and_load_staging")[0]
    assert staging.metadata["rows_loaded"].value == 24
    assert staging.metadata["dagster/row_count"].value == 24
    columns = ["sale_id", "sale_date", "region", "product_sku", "quantity", "amount", "loaded_at"]
    assert staging.metadata["columns"].value == columns
    schema = staging.metadata["dagster/column_schema"].schema
    assert [(c.name, c.type) for c in schema.columns][:2] == [("sale_id", "integer"), ("sale_date", "date")]
    preview = staging.metadata["preview"].records
    assert len(preview) == 5
    first = _file_rows(path)
    assert {(int(r.data["sale_id"]), r.data["region"]) for r in preview} <= {(row[0], row[2]) for row in first}
    logs = {log.step: log for log in PipelineRunLog.objects.filter(dagster_run_id=result.run_id)}
    assert logs["extract_load"].status == "SUCCESS"
    assert logs["extract_load"].rows_loaded == 24
    assert logs["extract_load"].source_files == [str(path)]
    assert set(logs["extract_load"].phase_durations) == {"parse", "load"}
    assert set(logs["transform"].phase_durations) == {"transform"}
    assert logs["transform"].status == "SUCCESS"
    assert logs["transform"].target_table == "dw.sales"
    assert PipelineConfig.objects.get(import_name="daily_sales").last_import_date is not None


def test_a_second_day_appends_and_a_redelivered_file_does_not_duplicate(demo_pipeline, demo_warehouse, incoming):
    first = drop_demo_file(incoming, "sales_2024-01-01.csv")
    second = drop_demo_file(incoming, "sales_2024-01-02.csv")
    assert _materialize(demo_pipeline, [first]).success
    assert _materialize(demo_pipeline, [second]).success
    assert _materialize(demo_pipeline, [first]).success
    assert _destination_rows(demo_warehouse) == sorted(_file_rows(first) + _file_rows(second))


def _staging_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM staging.daily_sales").fetchone()[0]


def test_the_ledger_skips_a_file_already_loaded_unless_forced(demo_pipeline, demo_warehouse, incoming):
    path = drop_demo_file(incoming)
    first = _materialize(demo_pipeline, [path])
    assert first.success
    loaded = LoadedFile.objects.get(dagster_run_id=first.run_id)
    assert (loaded.status, loaded.rows, loaded.size_bytes, loaded.file_name) == (
        "LOADED",
        24,
        path.stat().st_size,
        path.name,
    )
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.source == "manual"

    copy = incoming / "sales_2024-01-01_again.csv"
    copy.write_bytes(path.read_bytes())
    again = _materialize(demo_pipeline, [copy])

    assert again.success
    skipped = LoadedFile.objects.get(dagster_run_id=again.run_id)
    assert skipped.status == "SKIPPED"
    assert skipped.message.startswith(f"sales_2024-01-01_again.csv was already loaded on {loaded.recorded_at:%Y-%m-%d}")
    assert f"by run {first.run_id[:8]} (24 rows); skipped" in skipped.message
    assert _staging_count(demo_warehouse) == 24
    assert not PipelineRunLog.objects.filter(dagster_run_id=again.run_id, step="transform").exists()

    forced = _materialize(demo_pipeline, [copy], force=True)

    assert forced.success
    entry = LoadedFile.objects.get(dagster_run_id=forced.run_id)
    assert (entry.status, entry.forced, entry.rows) == ("LOADED", True, 24)
    assert _staging_count(demo_warehouse) == 48
    assert _destination_rows(demo_warehouse) == _file_rows(path)


@pytest.fixture
def insert_by_key(demo_warehouse, incoming):
    """The demo import moved by the built-in insert with sale_id as its key (its table then has no run ids)."""
    create_demo_pipeline(incoming)
    PipelineConfig.objects.filter(import_name="daily_sales").update(
        transform_procedure=None, transform_strategy="insert", deduplication_key="sale_id"
    )
    with psycopg.connect(demo_warehouse, autocommit=True) as conn:
        conn.execute("ALTER TABLE dw.sales ALTER COLUMN dagster_run_id DROP NOT NULL")
    try:
        yield build_definitions(load_active_specs(), WarehouseResource(url=demo_warehouse))
    finally:
        with psycopg.connect(demo_warehouse, autocommit=True) as conn:
            conn.execute("TRUNCATE dw.sales")
            conn.execute("ALTER TABLE dw.sales ALTER COLUMN dagster_run_id SET NOT NULL")


def test_the_built_in_insert_with_a_key_reports_the_rows_it_left_out(insert_by_key, demo_warehouse, incoming):
    path = drop_demo_file(incoming)
    assert _materialize(insert_by_key, [path]).success

    again = _materialize(insert_by_key, [path], force=True)

    assert again.success
    assert _destination_rows(demo_warehouse) == _file_rows(path)
    moved = PipelineRunLog.objects.get(dagster_run_id=again.run_id, step="transform")
    assert (moved.rows_read, moved.rows_loaded, moved.rows_rejected) == (24, 0, 24)  # every key already there


def test_a_bad_file_fails_with_a_plain_error_and_changes_nothing(demo_pipeline, demo_warehouse, incoming):
    good = drop_demo_file(incoming)
    assert _materialize(demo_pipeline, [good]).success
    before = _destination_rows(demo_warehouse)
    with psycopg.connect(demo_warehouse) as conn:
        staging_before = conn.execute("SELECT count(*) FROM staging.daily_sales").fetchone()[0]
    bad = incoming / "sales_2024-01-09.csv"
    bad.write_text(
        "sale_id,sale_date,region,product_sku,quantity,amount\n500,2024-01-09,North,SKU-1,2,1.00\n"
        "501,2024-01-09,South,SKU-2,two,2.00\n"
    )

    result = _materialize(demo_pipeline, [bad])

    assert not result.success
    failure = PipelineRunLog.objects.get(dagster_run_id=result.run_id, step="extract_load")
    assert failure.status == "FAILURE"
    assert "sales_2024-01-09.csv" in failure.error_message
    assert "row 2" in failure.error_message and "quantity" in failure.error_message
    assert "Traceback" not in failure.error_message
    assert _destination_rows(demo_warehouse) == before
    with psycopg.connect(demo_warehouse) as conn:
        assert conn.execute("SELECT count(*) FROM staging.daily_sales").fetchone()[0] == staging_before
    assert not PipelineRunLog.objects.filter(dagster_run_id=result.run_id, step="transform").exists()
    assert LoadedFile.objects.get(dagster_run_id=result.run_id).status == "FAILED"


def test_a_path_outside_the_watched_folder_is_refused(demo_pipeline, demo_warehouse, incoming, tmp_path):
    outside = tmp_path / "sales_2024-01-01.csv"
    outside.write_text("sale_id,sale_date,region,product_sku,quantity,amount\n1,2024-01-01,N,S,1,1\n")
    result = _materialize(demo_pipeline, [outside])
    assert not result.success
    log = PipelineRunLog.objects.get(dagster_run_id=result.run_id)
    assert "not inside the monitored folder" in log.error_message
    assert _destination_rows(demo_warehouse) == []


def test_a_header_only_file_loads_zero_rows_and_is_logged(demo_pipeline, demo_warehouse, incoming):
    empty_day = incoming / "sales_2024-01-10.csv"
    empty_day.write_text("sale_id,sale_date,region,product_sku,quantity,amount\n")

    result = _materialize(demo_pipeline, [empty_day])

    assert result.success
    logs = {log.step: log for log in PipelineRunLog.objects.filter(dagster_run_id=result.run_id)}
    assert (logs["extract_load"].status, logs["extract_load"].rows_loaded) == ("SUCCESS", 0)
    assert (logs["transform"].status, logs["transform"].rows_loaded) == ("SUCCESS", 0)
    assert _destination_rows(demo_warehouse) == []


def test_an_empty_file_fails_with_a_clear_error(demo_pipeline, demo_warehouse, incoming):
    empty = incoming / "sales_2024-01-11.csv"
    empty.write_bytes(b"")

    result = _materialize(demo_pipeline, [empty])

    assert not result.success
    log = PipelineRunLog.objects.get(dagster_run_id=result.run_id)
    assert log.error_message == "sales_2024-01-11.csv is empty: expected a header row with column names."
    assert log.resolution_hint
