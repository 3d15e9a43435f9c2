"""The file sensor: a new file gives one run request carrying its path; the same file none; a change one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.dagster_code.conftest import drop_demo_file

pytestmark = pytest.mark.django_db


def _sensor(report) -> tuple[dg.SensorDefinition, dg.RepositoryDefinition]:
    repository = report.definitions.get_repository_def()
    return repository.get_sensor_def("daily_sales_file_sensor"), repository


def _tick(sensor_and_repo, cursor: str | None, instance: dg.DagsterInstance):
    sensor, repository = sensor_and_repo
    context = dg.build_sensor_context(cursor=cursor, instance=instance, repository_def=repository)
    result = sensor.evaluate_tick(context)
    return result.run_requests or [], result.cursor, result.skip_message


def _settle(path: Path, seconds_ago: float = 60) -> None:
    past = time.time() - seconds_ago
    os.utime(path, (past, past))


def test_new_same_and_modified_files(demo_pipeline, incoming):
    sensor = _sensor(demo_pipeline)
    assert sensor[0].default_status == dg.DefaultSensorStatus.RUNNING
    instance = dg.DagsterInstance.ephemeral()
    path = drop_demo_file(incoming)
    _settle(path)

    requests, cursor, _ = _tick(sensor, None, instance)
    assert len(requests) == 1
    request = requests[0]
    ops = request.run_config["ops"]["daily_sales_extract_and_load_staging"]["config"]
    assert ops["file_paths"] == [str(path)]
    assert request.tags["launchpad/import"] == "daily_sales"
    assert request.tags["launchpad/destination"] == "dw.sales"
    assert {k.to_user_string() for k in request.asset_selection} == {
        "daily_sales_extract_and_load_staging",
        "RetailSales_transform",
    }

    again, cursor, skip = _tick(sensor, cursor, instance)
    assert again == []
    assert skip == "No new or changed files."

    with path.open("a") as handle:
        handle.write("9001,2024-01-01,North,SKU-1001,1,9.99\n")
    _settle(path, seconds_ago=30)
    changed, cursor, _ = _tick(sensor, cursor, instance)
    assert len(changed) == 1
    assert changed[0].run_key != request.run_key


def test_files_that_do_not_match_the_pattern_are_ignored(demo_pipeline, incoming):
    sensor = _sensor(demo_pipeline)
    other = incoming / "inventory_2024-01-01.csv"
    other.write_text("a,b\n1,2\n")
    _settle(other)
    requests, _, skip = _tick(sensor, None, dg.DagsterInstance.ephemeral())
    assert requests == []
    assert skip == "No new or changed files."
