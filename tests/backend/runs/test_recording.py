"""What the orchestrator records: business log rows, last import dates, definition errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.pipelines.models import PipelineConfig
from backend.runs import recording
from backend.runs.models import LoadedFile, PipelineRunLog
from dagster_code.engine.ledger import FileFingerprint, split_already_loaded
from tests.factories import LoadedFileFactory, PipelineConfigFactory

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


def _step(**overrides) -> recording.StepRecord:
    start = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
    values = dict(
        dagster_run_id="run-1",
        pipeline_name="RetailSales",
        import_name="daily_sales",
        step="extract_load",
        status="SUCCESS",
        started_at=start,
        finished_at=start + timedelta(seconds=4),
    )
    return recording.StepRecord(**(values | overrides))


def test_record_step_keeps_seconds_per_phase():
    recording.record_step(_step(phase_durations={"parse": 1.23456, "load": 2, "quality": 0.5}))
    log = PipelineRunLog.objects.get(dagster_run_id="run-1")
    assert log.phase_durations == {"parse": 1.235, "load": 2.0, "quality": 0.5}
    assert log.phase_summary == "parse 1.2 s · load 2.0 s · quality 0.5 s"


def test_record_step_without_phases_stores_an_empty_mapping():
    recording.record_step(_step())
    assert PipelineRunLog.objects.get(dagster_run_id="run-1").phase_durations == {}


def test_record_step_refuses_an_unknown_phase_and_writes_nothing():
    with pytest.raises(ValueError, match="Unknown phase"):
        recording.record_step(_step(phase_durations={"parse": 1.0, "copy": 2.0}))
    assert PipelineRunLog.objects.count() == 0


def _file_record(**overrides) -> recording.FileRecord:
    values = dict(
        import_name="daily_sales",
        pipeline_name="RetailSales",
        path="/in/sales_2024-01-02.csv",
        file_name="sales_2024-01-02.csv",
        size_bytes=512,
        sha256="a" * 64,
        status="LOADED",
        dagster_run_id="1a2b3c4d-0000",
        source="sensor",
        rows=24,
    )
    return recording.FileRecord(**(values | overrides))


def test_record_files_writes_one_ledger_row_per_file():
    written = recording.record_files(
        [
            _file_record(),
            _file_record(
                path="/in/copy.csv",
                file_name="copy.csv",
                status="SKIPPED",
                rows=None,
                message="copy.csv has the same content as sales_2024-01-02.csv in this batch; skipped.",
            ),
        ]
    )
    assert written == 2
    rows = LoadedFile.objects.order_by("id").values_list("file_name", "status", "rows", "source", "forced", "message")
    assert list(rows) == [
        ("sales_2024-01-02.csv", "LOADED", 24, "sensor", False, ""),
        (
            "copy.csv",
            "SKIPPED",
            None,
            "sensor",
            False,
            "copy.csv has the same content as sales_2024-01-02.csv in this batch; skipped.",
        ),
    ]


def test_record_files_refuses_an_unknown_status_and_writes_nothing():
    with pytest.raises(ValueError):
        recording.record_files([_file_record(), _file_record(status="DONE")])
    assert LoadedFile.objects.count() == 0


def test_record_files_with_nothing_writes_nothing():
    assert recording.record_files([]) == 0
    assert LoadedFile.objects.count() == 0


def test_prior_loads_returns_the_latest_load_of_each_hash_for_that_import_only():
    old = LoadedFileFactory(sha256="a" * 64, dagster_run_id="run-old", rows=10)
    new = LoadedFileFactory(sha256="a" * 64, dagster_run_id="run-new", rows=24, file_name="again.csv")
    LoadedFile.objects.filter(pk=old.pk).update(recorded_at=datetime(2024, 1, 1, tzinfo=UTC))
    LoadedFile.objects.filter(pk=new.pk).update(recorded_at=datetime(2024, 1, 3, 10, 15, tzinfo=UTC))
    LoadedFileFactory(sha256="a" * 64, dagster_run_id="run-skip", status="SKIPPED", rows=None)
    LoadedFileFactory(sha256="b" * 64, dagster_run_id="run-fail", status="FAILED", rows=None)
    LoadedFileFactory(sha256="c" * 64, import_name="other_import")

    priors = recording.prior_loads("daily_sales", ["a" * 64, "b" * 64, "c" * 64, "d" * 64])

    assert priors == {
        "a" * 64: recording.PriorLoad(
            sha256="a" * 64,
            file_name="again.csv",
            loaded_at=datetime(2024, 1, 3, 10, 15, tzinfo=UTC),
            dagster_run_id="run-new",
            rows=24,
        )
    }


def test_prior_loads_leaves_out_the_asking_runs_own_entries():
    LoadedFileFactory(sha256="a" * 64, dagster_run_id="run-1")
    assert recording.prior_loads("daily_sales", ["a" * 64], exclude_run_id="run-1") == {}
    assert set(recording.prior_loads("daily_sales", ["a" * 64])) == {"a" * 64}


def test_prior_loads_of_no_hashes_is_empty():
    assert recording.prior_loads("daily_sales", []) == {}


def test_a_file_dropped_again_is_skipped_with_the_run_that_loaded_it():
    recording.record_files([_file_record()])
    LoadedFile.objects.update(recorded_at=datetime(2024, 1, 3, 10, 15, tzinfo=UTC))
    dropped_again = FileFingerprint(
        "/in/sales_2024-01-02.csv", "sales_2024-01-02.csv", 512, "a" * 64, datetime(2024, 1, 5, tzinfo=UTC)
    )

    to_load, skipped = split_already_loaded([dropped_again], recording.prior_loads("daily_sales", ["a" * 64]))

    assert to_load == ()
    assert [s.message for s in skipped] == [
        "sales_2024-01-02.csv was already loaded on 2024-01-03 10:15 UTC by run 1a2b3c4d (24 rows); skipped."
        " Use force to load it again."
    ]


def test_settle_files_marks_a_runs_files_failed_then_loaded_and_leaves_skips_alone():
    loaded = LoadedFileFactory(import_name="daily_sales", dagster_run_id="run-1", status="LOADED", rows=3)
    skipped = LoadedFileFactory(import_name="daily_sales", dagster_run_id="run-1", status="SKIPPED", message="dup")
    other = LoadedFileFactory(import_name="other", dagster_run_id="run-1", status="LOADED")

    assert recording.settle_files("run-1", ["daily_sales"], ok=False, message="The procedure failed.") == 1

    loaded.refresh_from_db()
    assert (loaded.status, loaded.message) == ("FAILED", "Not moved to the destination: The procedure failed.")
    assert recording.prior_loads("daily_sales", [loaded.sha256]) == {}
    assert recording.settle_files("run-1", ["daily_sales"], ok=True) == 1
    loaded.refresh_from_db()
    skipped.refresh_from_db()
    other.refresh_from_db()
    assert (loaded.status, loaded.message) == ("LOADED", "")
    assert (skipped.status, skipped.message) == ("SKIPPED", "dup")
    assert other.status == "LOADED"
    assert set(recording.prior_loads("daily_sales", [loaded.sha256])) == {loaded.sha256}
