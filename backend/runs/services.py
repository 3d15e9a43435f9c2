"""Write side of runs: launch, sync, cancel, reload. Shared by the dashboard, admin, API and CLI."""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from backend.pipelines.models import PipelineConfig
from backend.runs.dagster_client import DagsterClient, OrchestratorError, OrchestratorUnavailable
from backend.runs.models import FINISHED_STATUSES, CodeLocationReload, ImportRun, PipelineRunLog, RunStatus
from backend.runs.selectors import pipeline_access

log = logging.getLogger("launchpad.runs")

TAG_IMPORT = "launchpad/import"
TAG_PIPELINE = "launchpad/pipeline"
TAG_DESTINATION = "launchpad/destination"
TAG_USER = "launchpad/user"
TAG_IMPORT_RUN = "launchpad/import_run_id"
TAG_TRIGGER = "launchpad/trigger"
STALE_QUEUED_AFTER = timedelta(seconds=30)

DAGSTER_TO_STATUS = {
    "QUEUED": RunStatus.STARTING,
    "NOT_STARTED": RunStatus.STARTING,
    "STARTING": RunStatus.STARTING,
    "STARTED": RunStatus.STARTED,
    "CANCELING": RunStatus.STARTED,
    "SUCCESS": RunStatus.SUCCESS,
    "FAILURE": RunStatus.FAILURE,
    "CANCELED": RunStatus.CANCELED,
}


class QueueUnavailable(Exception):
    """The task queue (Redis) did not answer; the runs were saved and start when it is back."""

    message = (
        "The task queue is not answering right now. Your runs were saved and will start automatically "
        "as soon as it is back."
    )


def dagster_client() -> DagsterClient:
    return DagsterClient(settings.DAGSTER_GRAPHQL_URL)


def _asset_keys(config: PipelineConfig) -> list[str]:
    return [f"{config.import_name}_extract_and_load_staging", f"{config.pipeline_name}_transform"]


def import_run_create(user, import_names: Iterable[str], trigger: str = ImportRun.Trigger.DASHBOARD) -> list[ImportRun]:
    """Record one queued run per import, in the user's order. Refuses imports the user may not run."""
    names = list(dict.fromkeys(import_names))
    if not names:
        raise ValueError("Choose at least one import to run.")
    access = pipeline_access(user)
    configs = {c.import_name: c for c in PipelineConfig.objects.filter(import_name__in=names, is_active=True)}
    hidden = [n for n in names if n not in configs or configs[n].pipeline_name not in access]
    if hidden:
        raise Http404(f"No such import: {', '.join(hidden)}.")
    refused = [n for n in names if not access[configs[n].pipeline_name].can_run]
    if refused:
        raise PermissionDenied(f"You may look at but not run: {', '.join(refused)}.")
    batch = uuid.uuid4()
    with transaction.atomic():
        return [
            ImportRun.objects.create(
                requested_by=user if getattr(user, "is_authenticated", False) else None,
                trigger=trigger,
                pipeline_name=configs[name].pipeline_name,
                import_names=[name],
                batch_id=batch,
                position=position,
                config_versions={name: configs[name].version},
            )
            for position, name in enumerate(names)
        ]


def import_run_launch(user, import_names: Iterable[str], trigger: str = ImportRun.Trigger.DASHBOARD) -> list[ImportRun]:
    """Queue the imports and hand them to the worker; raises QueueUnavailable (runs kept) if Redis is down."""
    runs = import_run_create(user, import_names, trigger)
    enqueue_launch([run.pk for run in runs])
    return runs


def enqueue_launch(run_ids: list[int]) -> None:
    from backend.runs.tasks import launch_import_runs

    try:
        launch_import_runs.apply_async(args=[run_ids], retry=False)
    except Exception as exc:  # noqa: BLE001 - kombu/redis raise many types; all mean "queue unavailable"
        log.warning("could not enqueue launch of %s: %s", run_ids, exc)
        raise QueueUnavailable(QueueUnavailable.message) from exc


def _username(run: ImportRun) -> str:
    return run.requested_by.get_username() if run.requested_by else ""


def import_run_launch_one(client: DagsterClient, run: ImportRun) -> None:
    """Launch one queued run, or adopt the Dagster run an earlier attempt already started.

    Raises OrchestratorUnavailable (the run stays QUEUED for a later attempt); any other
    orchestrator error fails this run only.
    """
    with transaction.atomic():
        run = ImportRun.objects.select_for_update(skip_locked=True).filter(pk=run.pk, status=RunStatus.QUEUED).first()
        if run is None:
            return
        existing = client.runs_with_tag(TAG_IMPORT_RUN, str(run.pk), limit=1)
        if existing:
            run.dagster_run_id = existing[0].run_id
            run.status = DAGSTER_TO_STATUS.get(existing[0].status, RunStatus.STARTING)
            run.save(update_fields=["dagster_run_id", "status"])
            return
        config = PipelineConfig.objects.filter(import_name=run.import_names[0]).first()
        if config is None or not config.is_active:
            _fail(run, f"The import {run.import_names[0]} is no longer active, so it was not started.")
            return
        tags = {
            TAG_IMPORT: config.import_name,
            TAG_PIPELINE: config.pipeline_name,
            TAG_DESTINATION: config.destination_table,
            TAG_IMPORT_RUN: str(run.pk),
            TAG_TRIGGER: run.trigger,
        }
        if _username(run):
            tags[TAG_USER] = _username(run)
        try:
            run.dagster_run_id = client.launch_run(_asset_keys(config), tags=tags)
        except OrchestratorError as exc:
            log.warning("launch of import run %s failed: %s", run.pk, exc.detail or exc)
            _fail(run, f"{config.import_name} could not be started: {exc.message}")
            return
        run.status = RunStatus.STARTING
        run.save(update_fields=["dagster_run_id", "status"])


def _fail(run: ImportRun, message: str) -> None:
    run.status = RunStatus.FAILURE
    run.error_summary = message
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error_summary", "finished_at"])


def import_runs_launch_queued(run_ids: list[int] | None = None, client: DagsterClient | None = None) -> None:
    """Launch queued runs in the order chosen; one failure does not stop the rest."""
    client = client or dagster_client()
    queued = ImportRun.objects.filter(status=RunStatus.QUEUED, dagster_run_id="")
    if run_ids is not None:
        queued = queued.filter(pk__in=run_ids)
    for run in queued.order_by("created_at", "batch_id", "position"):
        import_run_launch_one(client, run)


def _timestamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _outcome(run: ImportRun) -> tuple[int | None, str]:
    logs = PipelineRunLog.objects.filter(dagster_run_id=run.dagster_run_id)
    staged = [entry.rows_loaded for entry in logs if entry.step == "extract_load" and entry.status == "SUCCESS"]
    errors = [entry for entry in logs if entry.status == "FAILURE"]
    message = " ".join(e.error_message for e in errors[:2])
    return (sum(staged) if staged else None), message


ORCHESTRATOR_STATUS_KEY = "launchpad:orchestrator-status"


@functools.lru_cache(maxsize=4)
def _redis_for(url: str) -> redis.Redis:
    """One client (and connection pool) per URL and process; redis-py clients are thread-safe."""
    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)


def _redis() -> redis.Redis:
    return _redis_for(settings.REDIS_URL)


def orchestrator_status_record(available: bool, message: str = "") -> None:
    """Remember whether the last conversation with Dagster worked, for the dashboard's banner."""
    try:
        _redis().set(ORCHESTRATOR_STATUS_KEY, json.dumps({"available": available, "message": message}), ex=300)
    except redis.RedisError:
        pass


def orchestrator_status() -> dict:
    """``{"available": bool, "message": str}`` as last seen by the status sync (available if unknown)."""
    try:
        raw = _redis().get(ORCHESTRATOR_STATUS_KEY)
    except redis.RedisError:
        return {"available": True, "message": "", "queue": False}
    return {**(json.loads(raw) if raw else {"available": True, "message": ""}), "queue": True}


def import_runs_sync(client: DagsterClient | None = None) -> int:
    """Bring unfinished runs up to date in one batched query; adopt sensor runs; retry stale queued ones."""
    client = client or dagster_client()
    try:
        _adopt_sensor_runs(client)
    except OrchestratorUnavailable as exc:
        orchestrator_status_record(False, exc.message)
        raise
    orchestrator_status_record(True)
    unfinished = list(ImportRun.objects.exclude(status__in=FINISHED_STATUSES).exclude(dagster_run_id=""))
    changed = 0
    if unfinished:
        infos = client.run_statuses([run.dagster_run_id for run in unfinished])
        for run in unfinished:
            info = infos.get(run.dagster_run_id)
            if info is not None and _apply(run, info):
                changed += 1
    stale = ImportRun.objects.filter(
        status=RunStatus.QUEUED, dagster_run_id="", created_at__lt=timezone.now() - STALE_QUEUED_AFTER
    )
    if stale.exists():
        import_runs_launch_queued([run.pk for run in stale], client)
    return changed


def _apply(run: ImportRun, info) -> bool:
    status = DAGSTER_TO_STATUS.get(info.status, run.status)
    started, finished = _timestamp(info.start_time), _timestamp(info.end_time)
    if status == run.status and started == run.started_at and finished == run.finished_at:
        return False
    run.status, run.started_at = status, started or run.started_at
    if status in FINISHED_STATUSES:
        run.finished_at = finished or timezone.now()
        rows, message = _outcome(run)
        run.rows_loaded = rows
        if status == RunStatus.FAILURE:
            run.error_summary = message or "The run failed in the orchestrator. Open the details to see where."
        if status == RunStatus.CANCELED and not run.error_summary:
            run.error_summary = "The run was canceled."
    run.save(update_fields=["status", "started_at", "finished_at", "rows_loaded", "error_summary"])
    return True


def _adopt_sensor_runs(client: DagsterClient) -> None:
    """Runs the file sensors started appear in the dashboard and history like any other."""
    for info in client.runs_with_tag(TAG_TRIGGER, "sensor", limit=50):
        if ImportRun.objects.filter(dagster_run_id=info.run_id).exists():
            continue
        import_name = info.tags.get(TAG_IMPORT, "")
        config = PipelineConfig.objects.filter(import_name=import_name).first()
        run = ImportRun(
            trigger=ImportRun.Trigger.SENSOR,
            pipeline_name=info.tags.get(TAG_PIPELINE) or (config.pipeline_name if config else ""),
            import_names=[import_name],
            dagster_run_id=info.run_id,
            status=RunStatus.STARTING,
            config_versions={import_name: config.version} if config else {},
        )
        run.save()
        _apply(run, info)


def import_run_cancel(user, run: ImportRun, client: DagsterClient | None = None) -> None:
    access = pipeline_access(user).get(run.pipeline_name)
    if access is None:
        raise Http404("No such run.")
    if not access.can_run:
        raise PermissionDenied("You may not cancel runs of this pipeline.")
    if run.is_finished:
        return
    if not run.dagster_run_id:
        ImportRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELED, finished_at=timezone.now(), error_summary="Canceled before it started."
        )
        return
    (client or dagster_client()).terminate_run(run.dagster_run_id)


# ------------------------------------------------------------------------------ code location


RELOAD_PENDING_KEY = "launchpad:code-location-reload-pending"
RELOAD_DEBOUNCE_SECONDS = 3


def code_location_reload_request() -> None:
    """Ask for one reload after the current transaction; many edits in a burst cause one reload."""
    if not getattr(settings, "LAUNCHPAD_RELOAD_ON_SAVE", True):
        return
    transaction.on_commit(_enqueue_reload)


def _enqueue_reload() -> None:
    from backend.runs.tasks import reload_code_location

    try:
        client = _redis()
        if client.set(RELOAD_PENDING_KEY, "1", nx=True, ex=120):
            reload_code_location.apply_async(countdown=RELOAD_DEBOUNCE_SECONDS, retry=False)
    except Exception as exc:  # noqa: BLE001 - a missed reload is reported, never breaks the save
        log.warning("could not schedule a code location reload: %s", exc)
        CodeLocationReload.objects.create(
            finished_at=timezone.now(), ok=False, error="The task queue was unavailable; reload the code location."
        )


def code_location_reload_pending() -> bool | None:
    """Whether a reload is scheduled and has not started yet (None when the task queue cannot be asked)."""
    try:
        return bool(_redis().exists(RELOAD_PENDING_KEY))
    except redis.RedisError:
        return None


def code_location_reload(client: DagsterClient | None = None) -> CodeLocationReload:
    """Reload the code location now, record the result, then align sensors with their configs."""
    try:
        _redis().delete(RELOAD_PENDING_KEY)
    except redis.RedisError:
        pass
    client = client or dagster_client()
    record = CodeLocationReload.objects.create()
    try:
        result = client.reload_location()
        record.ok, record.error = result.ok, result.error
    except OrchestratorUnavailable as exc:
        record.ok, record.error = False, exc.message
    record.finished_at = timezone.now()
    record.save(update_fields=["ok", "error", "finished_at"])
    if record.ok:
        sensors_align(client)
    return record


def sensors_align(client: DagsterClient) -> None:
    """Each active import's file sensor runs exactly when its 'watch the folder' flag says so."""
    configs = PipelineConfig.objects.filter(is_active=True).exclude(monitored_directory="")
    for config in configs:
        name = f"{config.import_name}_file_sensor"
        try:
            if client.sensor_state(name).running != config.sensor_enabled:
                client.set_sensor_running(name, config.sensor_enabled)
        except OrchestratorError as exc:
            log.warning("could not align sensor %s: %s", name, exc.detail or exc)


def sensor_set(config: PipelineConfig, running: bool, client: DagsterClient | None = None) -> None:
    """Admin action: turn an import's folder watching on or off, in Launchpad and in Dagster."""
    config.sensor_enabled = running
    config.save()  # kept in the change history
    (client or dagster_client()).set_sensor_running(f"{config.import_name}_file_sensor", running)
