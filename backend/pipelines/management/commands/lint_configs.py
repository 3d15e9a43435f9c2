"""``python manage.py lint_configs [FILE]``: what a save cannot check, for a YAML file or the database."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Check that the warehouse tables and transform procedures exist, monitored folders can be read, the "
        "warehouse connection is set, dependencies have no cycle and no two active imports claim the same files. "
        "Lints FILE when given, else the database. One line per problem; exits non-zero when there is one."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", nargs="?", help="A YAML file in the export_configs format (default: the database).")

    def handle(self, *args, file: str | None, **options) -> None:
        from backend.pipelines.config_lint import configs_lint_database, configs_lint_file

        if file is None:
            report = configs_lint_database()
        else:
            try:
                text = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"{file}: cannot be read: {getattr(exc, 'strerror', None) or exc}.") from exc
            report = configs_lint_file(text, file)
        if report.problems:
            for problem in report.problems:
                self.stdout.write(str(problem))
            raise CommandError(f"{len(report.problems)} problem(s) found.")
        self.stdout.write(self.style.SUCCESS(f"{report.imports_checked} imports checked, no problems."))
