"""The run dashboard: thin views over selectors and services."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backend.pipelines.models import PipelineConfig
from backend.runs import preflight, selectors, services
from backend.runs.dagster_client import OrchestratorError, OrchestratorUnavailable
from backend.runs.models import ImportRun, RunStatus

log = logging.getLogger("launchpad.dashboard")


def run_as_json(run: ImportRun) -> dict:
    return {
        "id": run.pk,
        "imports": run.import_names,
        "pipeline": run.pipeline_name,
        "status": run.status,
        "status_label": run.get_status_display(),
        "finished": run.is_finished,
        "trigger": run.get_trigger_display(),
        "user": run.requested_by.get_username() if run.requested_by else "",
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "duration_seconds": round(run.duration_seconds, 1) if run.duration_seconds is not None else None,
        "rows_loaded": run.rows_loaded,
        "error": run.error_summary,
        "detail_url": reverse("runs:detail", args=[run.pk]),
    }


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    groups = selectors.import_list_visible(request.user)
    recent = selectors.import_run_list_visible(request.user)[:15]
    return render(
        request,
        "runs/dashboard.html",
        {
            "groups": groups,
            "can_run_any": any(g.can_run for g in groups),
            "recent_runs": recent,
            "orchestrator": services.orchestrator_status(),
            "finished_statuses": [s.value for s in (RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED)],
        },
    )


@login_required
@require_POST
def launch(request: HttpRequest) -> HttpResponse:
    names = request.POST.getlist("imports")
    try:
        runs = services.import_run_launch(request.user, names)
    except ValueError as exc:
        messages.error(request, str(exc))
    except PermissionDenied as exc:
        messages.error(request, str(exc) or "You may not run these imports.")
    except services.QueueUnavailable as exc:
        messages.warning(request, str(exc))
    else:
        count = len(runs)
        messages.success(request, f"Started {count} import{'s' if count != 1 else ''}. Progress shows below.")
    return redirect("runs:dashboard")


@login_required
@require_GET
def status_json(request: HttpRequest) -> JsonResponse:
    """Statuses for the dashboard poller: the given run ids (only visible ones), else the recent runs."""
    raw = request.GET.get("ids", "")
    ids = [int(part) for part in raw.split(",") if part.strip().isdigit()][:200]
    if ids:
        runs = selectors.import_run_statuses_visible(request.user, ids)
    else:
        runs = list(selectors.import_run_list_visible(request.user)[:15])
    return JsonResponse({"runs": [run_as_json(run) for run in runs], "orchestrator": services.orchestrator_status()})


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.import_run_get_visible(request.user, pk)
    events, events_error = [], ""
    if run.dagster_run_id:
        try:
            events = list(services.dagster_client().run_events(run.dagster_run_id).events)
        except OrchestratorUnavailable as exc:
            events_error = exc.message
        except OrchestratorError as exc:
            log.warning("events of run %s: %s", run.dagster_run_id, exc.detail or exc)
            events_error = "The run's log could not be read from the orchestrator."
    configs = {c.import_name: c for c in PipelineConfig.objects.filter(import_name__in=list(run.config_versions))}
    versions = [
        {
            "import_name": name,
            "version": version,
            "history_url": (
                reverse("admin:pipelines_pipelineconfig_history", args=[configs[name].pk])
                if name in configs and request.user.is_staff
                else ""
            ),
        }
        for name, version in sorted(run.config_versions.items())
    ]
    steps: dict[str, list] = {}
    for event in events:
        if event.step_key:
            steps.setdefault(event.step_key, []).append(event)
    started = {
        key: min((e.timestamp for e in evs if e.event_type != "AssetMaterializationPlannedEvent"), default=0)
        for key, evs in steps.items()
    }
    steps = dict(sorted(steps.items(), key=lambda item: started[item[0]]))
    access = selectors.pipeline_access(request.user).get(run.pipeline_name)
    return render(
        request,
        "runs/detail.html",
        {
            "run": run,
            "run_json": run_as_json(run),
            "events": events,
            "steps": steps,
            "events_error": events_error,
            "versions": versions,
            "files": selectors.loaded_file_list(run),
            "run_logs": selectors.run_log_list(run),
            "quality_logs": selectors.quality_log_list(run),
            "can_cancel": bool(access and access.can_run and not run.is_finished),
            "dagster_ui_url": (
                f"{settings.DAGSTER_UI_URL.rstrip('/')}/runs/{run.dagster_run_id}"
                if run.dagster_run_id and getattr(settings, "DAGSTER_UI_URL", "")
                else ""
            ),
        },
    )


@login_required
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.import_run_get_visible(request.user, pk)
    try:
        services.import_run_cancel(request.user, run)
        messages.info(request, "Cancel requested; the status updates in a moment.")
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except OrchestratorUnavailable as exc:
        messages.error(request, exc.message)
    return redirect("runs:detail", pk=pk)


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    filters = {
        "pipeline_name": request.GET.get("pipeline", ""),
        "status": request.GET.get("status", ""),
        "username": request.GET.get("user", ""),
        "since": _date(request.GET.get("since", "")),
        "until": _date(request.GET.get("until", "")),
    }
    runs = selectors.import_run_list_visible(request.user, **filters)
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "runs/history.html",
        {
            "page": page,
            "pipelines": sorted(selectors.pipeline_access(request.user)),
            "statuses": RunStatus.choices,
            "filters": request.GET,
        },
    )


@contextmanager
def _saved_upload(upload: UploadedFile) -> Iterator[Path]:
    """The upload as a file of its own name in a private temporary folder, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="launchpad-check-") as folder:
        path = Path(folder) / (Path(upload.name or "").name or "upload")
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        yield path


@login_required
@require_http_methods(["GET", "POST"])
def check_file(request: HttpRequest) -> HttpResponse:
    """Check a file against an import before loading it: the real load path, rolled back."""
    imports = selectors.import_names_runnable(request.user)
    if not imports:
        raise PermissionDenied("You may not run any import, so there is nothing to check a file against.")
    chosen = request.POST.get("import_name", "") or request.GET.get("import", "")
    report, problem, file_name = None, "", ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        limit = settings.LAUNCHPAD_PREFLIGHT_MAX_MB
        if not chosen:
            problem = "Choose an import."
        elif upload is None:
            problem = "Choose a file to check."
        elif upload.size > limit * 1024 * 1024:
            problem = f"The file is larger than {limit} MB; check it with manage.py load_file --dry-run instead."
        else:
            spec = preflight.import_spec_runnable(request.user, chosen)
            with _saved_upload(upload) as path:
                file_name = path.name
                report = preflight.file_preflight(spec, path)
    return render(
        request,
        "runs/check_file.html",
        {"imports": imports, "chosen": chosen, "report": report, "problem": problem, "file_name": file_name},
        status=400 if problem else 200,
    )
