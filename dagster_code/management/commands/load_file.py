"""``python manage.py load_file [--force | --dry-run] IMPORT_NAME PATH``: one file through one import, now."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Load one file with an import's whole path (parse, map, load, transform) through Dagster in this "
        "process, as a watched folder would. Prints rows read and loaded; exits non-zero on failure."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("import_name", help="The import to use, e.g. daily_sales.")
        parser.add_argument("path", help="The file to load.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--force", action="store_true", help="Load the file even if it was loaded before.")
        mode.add_argument(
            "--dry-run",
            action="store_true",
            help="Load nothing: check the file (rows, mapping, preview, enrichment, every quality rule) and roll back.",
        )

    def handle(self, *args, import_name: str, path: str, force: bool, dry_run: bool, **options) -> None:
        from dagster_code.cli import load_file

        code = load_file(import_name, path, force=force, dry_run_only=dry_run, out=self.stdout)
        if code:
            raise SystemExit(code)
