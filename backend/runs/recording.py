"""Writers the orchestrator uses to record what happened (the only ORM writes from Dagster)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

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


def record_step(record: StepRecord) -> None:
    """Append one row to the business run log."""
    from backend.runs.models import PipelineRunLog

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
    )


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
