"""``python manage.py import_configs FILE [--dry-run]``: create or update the pipeline metadata from YAML."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError


class Command(BaseCommand):
    help = (
        "Check the whole file as the admin would (every problem listed, nothing written if there is one), then "
        "create or update imports, rules and analytics configs by name in one transaction and ask for one "
        "code-location reload. --dry-run shows what would change and writes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="A YAML file written by export_configs (or by hand in the same shape).")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; write nothing.")

    def handle(self, *args, file: str, dry_run: bool, **options) -> None:
        from backend.pipelines.config_io import (
            ConfigFileError,
            configs_apply,
            configs_plan,
            counts_line,
            plan_diff_lines,
        )

        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot be read: {getattr(exc, 'strerror', None) or exc}.") from exc
        try:
            plan = configs_plan(text, file)
        except ConfigFileError as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(exc.message) from exc
        if dry_run:
            for line in plan_diff_lines(plan):
                self.stdout.write(line)
            self.stdout.write(f"Dry run, nothing written. {counts_line(plan.counts(), planned=True)}.")
            return
        try:
            counts = configs_apply(plan)
        except (ValidationError, DatabaseError) as exc:
            message = "; ".join(getattr(exc, "messages", None) or [str(exc).strip()])
            raise CommandError(f"{file}: the import was rolled back, nothing was written: {message}") from exc
        reload = " Code location reload requested." if plan.needs_reload else ""
        self.stdout.write(self.style.SUCCESS(f"Imported {file}: {counts_line(counts, planned=False)}.{reload}"))
