"""Read side of runs: what a user may see and run. Deny by default; staff see everything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Case, Q, QuerySet, When
from django.http import Http404

from backend.pipelines.models import PipelineConfig, PipelinePermission
from backend.runs.models import ImportRun, LoadedFile, PipelineRunLog, QualityRunLog, RunStatus


@dataclass(frozen=True)
class PipelineAccess:
    pipeline_name: str
    can_run: bool


def pipeline_access(user) -> dict[str, PipelineAccess]:
    """pipeline_name -> access for ``user`` (a grant to the user or any of their groups).

    ``user=None`` is the machine's operator (management commands): full access.
    """
    if user is not None and (not getattr(user, "is_authenticated", False) or not user.is_active):
        return {}
    if user is None or user.is_staff:
        names = PipelineConfig.objects.values_list("pipeline_name", flat=True).distinct()
        return {name: PipelineAccess(name, True) for name in names}
    grants = PipelinePermission.objects.filter(Q(user=user) | Q(group__in=user.groups.all()))
    access: dict[str, PipelineAccess] = {}
    for name, can_run in grants.values_list("pipeline_name", "can_run"):
        previous = access.get(name)
        access[name] = PipelineAccess(name, can_run or bool(previous and previous.can_run))
    return access


def import_names_runnable(user) -> list[str]:
    """The active imports ``user`` may run, by pipeline then name."""
    runnable = [name for name, access in pipeline_access(user).items() if access.can_run]
    configs = PipelineConfig.objects.filter(is_active=True, pipeline_name__in=runnable)
    return list(configs.order_by("pipeline_name", "import_name").values_list("import_name", flat=True))


@dataclass(frozen=True)
class ImportRow:
    import_name: str
    description: str
    can_run: bool
    last_status: str
    last_run_at: object | None
    last_run_id: int | None


@dataclass(frozen=True)
class PipelineGroup:
    pipeline_name: str
    can_run: bool
    imports: tuple[ImportRow, ...]


def import_list_visible(user) -> list[PipelineGroup]:
    """The active imports ``user`` may see, grouped by pipeline, each with its last run."""
    access = pipeline_access(user)
    configs = PipelineConfig.objects.filter(is_active=True, pipeline_name__in=list(access)).order_by(
        "pipeline_name", "import_name"
    )
    last_runs: dict[str, ImportRun] = {}
    for run in ImportRun.objects.filter(pipeline_name__in=list(access)).order_by("-created_at")[:500]:
        for name in run.import_names:
            last_runs.setdefault(name, run)
    groups: dict[str, list[ImportRow]] = {}
    for config in configs:
        last = last_runs.get(config.import_name)
        groups.setdefault(config.pipeline_name, []).append(
            ImportRow(
                import_name=config.import_name,
                description=config.description,
                can_run=access[config.pipeline_name].can_run,
                last_status=last.status if last else "",
                last_run_at=(last.finished_at or last.started_at or last.created_at) if last else None,
                last_run_id=last.pk if last else None,
            )
        )
    return [PipelineGroup(name, access[name].can_run, tuple(rows)) for name, rows in groups.items()]


def import_run_list_visible(
    user,
    *,
    pipeline_name: str = "",
    status: str = "",
    username: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[ImportRun]:
    runs = ImportRun.objects.filter(pipeline_name__in=list(pipeline_access(user))).select_related("requested_by")
    if pipeline_name:
        runs = runs.filter(pipeline_name=pipeline_name)
    if status in RunStatus.values:
        runs = runs.filter(status=status)
    if username:
        runs = runs.filter(requested_by__username=username)
    if since:
        runs = runs.filter(created_at__date__gte=since)
    if until:
        runs = runs.filter(created_at__date__lte=until)
    return runs.order_by("-created_at")


def import_run_get_visible(user, pk: int) -> ImportRun:
    """The run, if ``user`` may see its pipeline; otherwise 404 (never 403, so ids cannot be probed)."""
    run = ImportRun.objects.filter(pk=pk).select_related("requested_by").first()
    if run is None or run.pipeline_name not in pipeline_access(user):
        raise Http404("No such run.")
    return run


def import_run_statuses_visible(user, pks: list[int]) -> list[ImportRun]:
    access = pipeline_access(user)
    runs = ImportRun.objects.filter(pk__in=pks, pipeline_name__in=list(access)).select_related("requested_by")
    return list(runs.order_by("created_at"))


def loaded_file_list(run: ImportRun) -> QuerySet[LoadedFile]:
    """The ledger entries of a run (already checked visible), in the order they were recorded."""
    if not run.dagster_run_id:
        return LoadedFile.objects.none()
    return LoadedFile.objects.filter(dagster_run_id=run.dagster_run_id).order_by("recorded_at", "id")


def run_log_list(run: ImportRun) -> QuerySet[PipelineRunLog]:
    """The business log of a run (already checked visible): one row per step and import."""
    if not run.dagster_run_id:
        return PipelineRunLog.objects.none()
    return PipelineRunLog.objects.filter(dagster_run_id=run.dagster_run_id).order_by("started_at", "id")


def quality_log_list(run: ImportRun) -> QuerySet[QualityRunLog]:
    """The quality rule results of a run (already checked visible), failures first."""
    if not run.dagster_run_id:
        return QualityRunLog.objects.none()
    order = Case(
        When(outcome=QualityRunLog.Outcome.FAIL, then=0),
        When(outcome=QualityRunLog.Outcome.WARN, then=1),
        default=2,
    )
    return QualityRunLog.objects.filter(dagster_run_id=run.dagster_run_id).order_by(order, "rule_name")
