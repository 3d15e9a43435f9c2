"""``python manage.py export_configs [--pipeline NAME] [--output FILE]``: the pipeline metadata as YAML."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backend.runs.errors import LaunchpadError


class Command(BaseCommand):
    help = (
        "Write imports, quality rules, enrichment rules and analytics configs as YAML (stable order, only the "
        "fields people set), ready for import_configs in another environment. Access grants are not included."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--pipeline",
            help="Only this pipeline group, the rules on its staging tables and "
            "the analytics on its destination tables.",
        )
        parser.add_argument("--output", help="Write to this file instead of standard output.")

    def handle(self, *args, pipeline: str | None, output: str | None, **options) -> None:
        from backend.pipelines.config_io import configs_export_yaml

        try:
            text = configs_export_yaml(pipeline)
        except LaunchpadError as exc:
            raise CommandError(exc.message) from exc
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Could not write {output}: {exc.strerror}.") from exc
        self.stderr.write(f"Wrote {output}.")
