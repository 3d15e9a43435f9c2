"""What the orchestrator records: business log rows, last import dates, definition errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.pipelines.models import PipelineConfig
from backend.runs import recording
from backend.runs.models import PipelineRunLog
from tests.factories import PipelineConfigFactory

pytestmark = pytest.mark.django_db


def test_record_step_writes_counts_duration_and_a_plain_error():
    start = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
    recording.record_step(
        recording.StepRecord(
            dagster_run_id="run-1",
            pipeline_name="RetailSales",
            import_name="daily_sales",
            step="extract_load",
            status="FAILURE",
            started_at=start,
            finished_at=start + timedelta(seconds=2.5),
            source_files=("/in/a.csv",),
            rows_read=10,
            error_message="a.csv: invalid input in data row 3, column quantity.",
            resolution_hint="Fix the value.",
            config_version=4,
        )
    )
    log = PipelineRunLog.objects.get(dagster_run_id="run-1")
    assert (log.status, log.rows_read, log.duration_seconds, log.config_version) == ("FAILURE", 10, 2.5, 4)
    assert log.source_files == ["/in/a.csv"]
    assert log.resolution_hint == "Fix the value."


def test_import_success_stamps_the_date_without_a_new_version():
    config = PipelineConfigFactory(import_name="daily_sales")
    when = datetime(2024, 1, 2, tzinfo=UTC)
    recording.record_import_success(["daily_sales"], when)
    config.refresh_from_db()
    assert config.last_import_date == when
    assert config.version == 1
    assert config.history.count() == 1


def test_definition_errors_are_set_and_cleared():
    PipelineConfigFactory(import_name="one")
    PipelineConfigFactory(import_name="two")
    recording.record_definition_errors({"one": "broken because X"})
    assert dict(PipelineConfig.objects.values_list("import_name", "definition_error")) == {
        "one": "broken because X",
        "two": "",
    }
    recording.record_definition_errors({})
    assert set(PipelineConfig.objects.values_list("definition_error", flat=True)) == {""}


def test_the_first_success_switches_replace_to_append_once():
    delta = PipelineConfigFactory(import_name="report_delta", is_active=False, load_method="append")
    initial = PipelineConfigFactory(
        import_name="report_initial", load_method="replace", on_success_deactivate_self_and_activate_import=delta
    )

    assert recording.record_import_success(["report_initial"], datetime(2024, 1, 3, tzinfo=UTC)) == ["report_delta"]

    initial.refresh_from_db()
    delta.refresh_from_db()
    assert (initial.is_active, delta.is_active) == (False, True)
    assert (initial.version, delta.version) == (2, 2)
    assert recording.record_import_success(["report_initial"], datetime(2024, 1, 4, tzinfo=UTC)) == []
