"""Writers the orchestrator uses to record what happened (the only ORM writes from Dagster)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import transaction

from backend.db import drop_stale_connection


@dataclass(frozen=True)
class StepRecord:
    dagster_run_id: str
    pipeline_name: str
    step: str
    status: str
    started_at: datetime
    finished_at: datetime
    import_name: str = ""
    target_table: str = ""
    source_files: tuple[str, ...] = ()
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    error_message: str = ""
    resolution_hint: str = ""
    config_version: int | None = None
    phase_durations: Mapping[str, float] = field(default_factory=dict)


def record_step(record: StepRecord) -> None:
    """Append one row to the business run log.

    Raises ``ValueError`` for a phase other than parse, load, quality or transform.
    """
    from backend.runs.models import PipelineRunLog

    unknown = sorted(set(record.phase_durations) - set(PipelineRunLog.PHASES))
    if unknown:
        raise ValueError(f"Unknown phase(s) {', '.join(unknown)}; expected {', '.join(PipelineRunLog.PHASES)}.")
    drop_stale_connection()
    PipelineRunLog.objects.create(
        dagster_run_id=record.dagster_run_id,
        pipeline_name=record.pipeline_name,
        import_name=record.import_name,
        step=record.step,
        status=record.status,
        source_files=list(record.source_files),
        target_table=record.target_table,
        rows_read=record.rows_read,
        rows_loaded=record.rows_loaded,
        rows_rejected=record.rows_rejected,
        started_at=record.started_at,
        finished_at=record.finished_at,
        duration_seconds=(record.finished_at - record.started_at).total_seconds(),
        error_message=record.error_message[:4000],
        resolution_hint=record.resolution_hint[:2000],
        config_version=record.config_version,
        phase_durations={phase: round(float(seconds), 3) for phase, seconds in record.phase_durations.items()},
    )


@dataclass(frozen=True)
class PriorLoad:
    """This import's latest successful load of some content (what the skip message quotes)."""

    sha256: str
    file_name: str
    loaded_at: datetime
    dagster_run_id: str
    rows: int | None


def prior_loads(import_name: str, sha256s: Iterable[str], *, exclude_run_id: str = "") -> dict[str, PriorLoad]:
    """sha256 -> the latest LOADED ledger entry of ``import_name`` with that content.

    ``exclude_run_id`` leaves out the asking run's own entries, so a retry of a run is not
    told that its own files were already loaded.
    """
    from backend.runs.models import LoadedFile

    drop_stale_connection()
    hashes = sorted(set(sha256s))
    if not hashes:
        return {}
    entries = LoadedFile.objects.filter(import_name=import_name, sha256__in=hashes, status=LoadedFile.Status.LOADED)
    if exclude_run_id:
        entries = entries.exclude(dagster_run_id=exclude_run_id)
    latest = entries.order_by("sha256", "-recorded_at", "-id").distinct("sha256")
    return {
        entry.sha256: PriorLoad(entry.sha256, entry.file_name, entry.recorded_at, entry.dagster_run_id, entry.rows)
        for entry in latest.only("sha256", "file_name", "recorded_at", "dagster_run_id", "rows")
    }


@dataclass(frozen=True)
class FileRecord:
    """One ledger entry: a file an import took (LOADED), left out (SKIPPED) or failed on (FAILED)."""

    import_name: str
    path: str
    file_name: str
    size_bytes: int
    sha256: str
    status: str
    dagster_run_id: str = ""
    pipeline_name: str = ""
    source: str = ""
    rows: int | None = None
    message: str = ""
    forced: bool = False


def record_files(entries: Iterable[FileRecord]) -> int:
    """Append ledger entries in one statement; returns how many were written."""
    from backend.runs.models import LoadedFile

    drop_stale_connection()
    rows = [
        LoadedFile(
            import_name=entry.import_name,
            pipeline_name=entry.pipeline_name,
            path=entry.path,
            file_name=entry.file_name[:255],
            size_bytes=entry.size_bytes,
            sha256=entry.sha256,
            source=entry.source[:150],
            dagster_run_id=entry.dagster_run_id,
            status=LoadedFile.Status(entry.status),
            rows=entry.rows,
            message=entry.message[:4000],
            forced=entry.forced,
        )
        for entry in entries
    ]
    return len(LoadedFile.objects.bulk_create(rows))


def record_import_success(import_names: list[str], finished_at: datetime) -> list[str]:
    """Stamp ``last_import_date`` (no new version), then make any one-time replace->append switch.

    Returns the imports that were switched on. The switch saves both rows, so it is kept in
    their history and the code location is reloaded.
    """
    from backend.pipelines.models import PipelineConfig

    drop_stale_connection()
    PipelineConfig.objects.filter(import_name__in=import_names).update(last_import_date=finished_at)
    switched: list[str] = []
    configs = PipelineConfig.objects.filter(
        import_name__in=import_names, is_active=True, on_success_deactivate_self_and_activate_import__isnull=False
    ).select_related("on_success_deactivate_self_and_activate_import")
    for config in configs:
        with transaction.atomic():
            successor = config.on_success_deactivate_self_and_activate_import
            config.is_active = False
            config.save()
            successor.is_active = True
            successor.save()
        switched.append(successor.import_name)
    return switched


def record_definition_errors(errors: Mapping[str, str]) -> None:
    """Show admins why an import could not be built; clear the message on the ones that now load."""
    from backend.pipelines.models import PipelineConfig

    drop_stale_connection()
    with transaction.atomic():
        stale = PipelineConfig.objects.exclude(definition_error="").exclude(import_name__in=list(errors))
        stale.update(definition_error="")
        for import_name, message in errors.items():
            PipelineConfig.objects.filter(import_name=import_name).exclude(definition_error=message).update(
                definition_error=message[:2000]
            )


def settle_files(dagster_run_id: str, import_names: Iterable[str], *, ok: bool, message: str = "") -> int:
    """After the transform: the run's ledger entries become LOADED (it reached the destination)
    or FAILED (it did not, so dropping the file again loads it). Returns the entries changed."""
    from backend.runs.models import LoadedFile

    drop_stale_connection()
    entries = LoadedFile.objects.filter(dagster_run_id=dagster_run_id, import_name__in=list(import_names)).exclude(
        status=LoadedFile.Status.SKIPPED
    )
    if ok:
        return entries.exclude(status=LoadedFile.Status.LOADED).update(status=LoadedFile.Status.LOADED, message="")
    return entries.update(status=LoadedFile.Status.FAILED, message=f"Not moved to the destination: {message}"[:4000])


@dataclass(frozen=True)
class QualityRecord:
    """One rule's result on one run's staging rows."""

    dagster_run_id: str
    rule_id: int | None
    rule_name: str
    target_table: str
    check_type: str
    severity: str
    rows_checked: int
    rows_failing: int
    passed: bool
    message: str
    import_name: str = ""
    sample: tuple[Mapping[str, object], ...] = ()


def record_quality(records: Iterable[QualityRecord]) -> int:
    """Write one QualityRunLog row per rule evaluation; returns how many were written."""
    from backend.pipelines.models import DataQualityRule
    from backend.runs.models import QualityRunLog

    records = list(records)
    drop_stale_connection()
    known = set(
        DataQualityRule.objects.filter(pk__in=[r.rule_id for r in records if r.rule_id]).values_list("pk", flat=True)
    )
    rows = [
        QualityRunLog(
            dagster_run_id=record.dagster_run_id,
            rule_id=record.rule_id if record.rule_id in known else None,
            rule_name=record.rule_name,
            import_name=record.import_name,
            target_table=record.target_table,
            check_type=record.check_type,
            severity=record.severity,
            rows_checked=record.rows_checked,
            failing_rows=record.rows_failing,
            outcome=(
                QualityRunLog.Outcome.PASS
                if record.passed
                else QualityRunLog.Outcome.WARN
                if record.severity == "WARN"
                else QualityRunLog.Outcome.FAIL
            ),
            detail=record.message[:4000],
            sample=[{k: None if v is None else str(v) for k, v in row.items()} for row in record.sample[:5]],
        )
        for record in records
    ]
    return len(QualityRunLog.objects.bulk_create(rows))


@dataclass(frozen=True)
class PredictionRecord:
    """One period of one analytics config: a forecast (value and band) or an anomaly scan (actual and score)."""

    period: date
    predicted_value: float | None = None
    lower_bound: float | None = None
    upper_bound: float | None = None
    actual_value: float | None = None
    is_anomaly: bool = False
    anomaly_score: float | None = None


def record_predictions(config_id: int, dagster_run_id: str, records: Iterable[PredictionRecord]) -> list[date]:
    """Upsert one AnalyticsPrediction per period (the latest run wins); returns periods newly flagged anomalous."""
    from backend.runs.models import AnalyticsPrediction

    records = list(records)
    drop_stale_connection()
    periods = [r.period for r in records]
    with transaction.atomic():
        flagged_before = set(
            AnalyticsPrediction.objects.filter(config_id=config_id, period__in=periods, is_anomaly=True).values_list(
                "period", flat=True
            )
        )
        AnalyticsPrediction.objects.bulk_create(
            [
                AnalyticsPrediction(
                    config_id=config_id,
                    dagster_run_id=dagster_run_id,
                    period=r.period,
                    predicted_value=r.predicted_value,
                    lower_bound=r.lower_bound,
                    upper_bound=r.upper_bound,
                    actual_value=r.actual_value,
                    is_anomaly=r.is_anomaly,
                    anomaly_score=r.anomaly_score,
                )
                for r in records
            ],
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["config", "period"],
            update_fields=[
                "dagster_run_id",
                "predicted_value",
                "lower_bound",
                "upper_bound",
                "actual_value",
                "is_anomaly",
                "anomaly_score",
            ],
        )
    return sorted(r.period for r in records if r.is_anomaly and r.period not in flagged_before)
