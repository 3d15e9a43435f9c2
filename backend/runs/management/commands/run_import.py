"""Launch imports from the command line, through the same services as the dashboard."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from backend.runs import services
from backend.runs.dagster_client import OrchestratorUnavailable
from backend.runs.models import ImportRun, RunStatus


class Command(BaseCommand):
    help = "Run one or more imports by name; with --wait, follow them and exit 0 only if all succeed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("import_names", nargs="+", metavar="NAME")
        parser.add_argument("--wait", action="store_true", help="Print live status until every run has finished.")
        parser.add_argument("--user", help="Run as this user (their permissions apply). Default: full access.")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait at most (with --wait).")

    def handle(self, *args, **options) -> None:
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user named {options['user']}.")
        try:
            runs = services.import_run_create(user, options["import_names"], trigger=ImportRun.Trigger.API)
            services.import_runs_launch_queued([run.pk for run in runs])
        except (Http404, PermissionDenied, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        except OrchestratorUnavailable as exc:
            raise CommandError(f"{exc.message} The runs stay queued and start when it is back.") from exc
        for run in runs:
            run.refresh_from_db()
            self.stdout.write(f"{run.import_names[0]}: {run.get_status_display()} (run {run.pk})")
        if not options["wait"]:
            return
        self._follow([run.pk for run in runs], options["timeout"])

    def _follow(self, ids: list[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        seen: dict[int, str] = {}
        while True:
            try:
                services.import_runs_sync()
            except OrchestratorUnavailable as exc:
                self.stderr.write(exc.message)
            runs = list(ImportRun.objects.filter(pk__in=ids).order_by("position"))
            for run in runs:
                if seen.get(run.pk) != run.status:
                    seen[run.pk] = run.status
                    extra = f", {run.rows_loaded} rows" if run.rows_loaded is not None else ""
                    error = f": {run.error_summary}" if run.error_summary and run.status == RunStatus.FAILURE else ""
                    self.stdout.write(f"{run.import_names[0]}: {run.get_status_display()}{extra}{error}")
            if all(run.is_finished for run in runs):
                break
            if time.monotonic() > deadline:
                raise CommandError("Timed out waiting for the runs to finish.")
            time.sleep(2)
        failed = [run.import_names[0] for run in runs if run.status != RunStatus.SUCCESS]
        if failed:
            raise CommandError(f"Not successful: {', '.join(failed)}.")
        self.stdout.write(self.style.SUCCESS("All imports succeeded."))
