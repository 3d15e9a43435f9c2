"""Celery tasks: thin wrappers around services, safe to run more than once."""

from __future__ import annotations

from celery import shared_task

from backend.runs import services
from backend.runs.dagster_client import OrchestratorUnavailable


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OrchestratorUnavailable,),
    retry_backoff=2,
    retry_backoff_max=30,
    max_retries=None,
)
def launch_import_runs(self, run_ids: list[int]) -> None:
    """Launch queued runs in order; while the orchestrator is down, retry with backoff (runs stay queued)."""
    services.import_runs_launch_queued(run_ids)


@shared_task(ignore_result=True)
def sync_import_runs() -> int:
    try:
        return services.import_runs_sync()
    except OrchestratorUnavailable:
        return 0


@shared_task(acks_late=True, ignore_result=True)
def reload_code_location() -> bool | None:
    return services.code_location_reload().ok
