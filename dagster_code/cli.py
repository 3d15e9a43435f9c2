"""One file through one import from the command line, with the asset code a sensor run uses.

``python manage.py load_file [--force] IMPORT_NAME PATH`` builds the code location's
definitions, then executes that import's staging asset and its group's transform in this
process (Dagster's ``execute_in_process``), so parsing, mapping, the ledger, the load and
the transform are exactly what a watched folder would do. Progress lines are printed as the
asset logs them; the outcome is read back from the business log. Errors are the plain
messages users see everywhere else: no traceback (that stays in the Dagster run log).
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import dagster as dg
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR

from dagster_code.engine.errors import EngineError
from dagster_code.engine.sources import resolve_file_in_folder
from dagster_code.factory import TAG_IMPORT, TAG_PIPELINE, TAG_TRIGGER, TAG_USER, StagingLoadConfig, build_definitions

JOB_NAME = "launchpad_load_file"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Outcome:
    ok: bool
    run_id: str
    lines: tuple[str, ...]


class _ProgressFilter(logging.Filter):
    """Only the asset's own information lines (not Dagster's event stream, not errors)."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, LOG_RECORD_METADATA_ATTR, None)
        if not meta or meta.get("dagster_event") is not None or record.levelno < logging.INFO:
            return False
        record.msg, record.args = meta.get("orig_message", record.getMessage()), ()
        return record.levelno < logging.ERROR


def _console_logger(stream: TextIO) -> dg.LoggerDefinition:
    @dg.logger(description="Plain progress lines for the load_file command.")
    def plain_console(_init_context) -> logging.Logger:
        logger = logging.Logger("launchpad.load_file", logging.INFO)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        handler.addFilter(_ProgressFilter())
        logger.addHandler(handler)
        return logger

    return plain_console


def _instance() -> dg.DagsterInstance:
    """The Dagster instance of this installation when one is configured, so the run shows in its UI."""
    home = os.environ.get("DAGSTER_HOME")
    if home and (Path(home) / "dagster.yaml").is_file():
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _find_import(import_name: str):
    from dagster_code.bridge import load_active_specs

    specs = load_active_specs()
    for pipeline in specs.pipelines:
        for spec in pipeline.imports:
            if spec.import_name == import_name:
                return specs, pipeline, spec
    return specs, None, None


def _unknown_import_message(import_name: str, specs) -> str:
    from backend.pipelines.models import PipelineConfig

    if PipelineConfig.objects.filter(import_name=import_name, is_active=False).exists():
        return f"The import {import_name} is inactive; activate it in the admin to load files with it."
    names = sorted(spec.import_name for spec in specs.imports)
    known = f" Active imports: {', '.join(names)}." if names else " No import is active."
    return f"There is no import named {import_name}.{known}"


def _outcome(run_id: str, result: dg.ExecuteInProcessResult) -> Outcome:
    from backend.runs.models import LoadedFile, PipelineRunLog

    lines: list[str] = []
    for entry in LoadedFile.objects.filter(dagster_run_id=run_id, status=LoadedFile.Status.SKIPPED):
        lines.append(entry.message.replace("Use force to", "Use --force to"))
    logs = list(PipelineRunLog.objects.filter(dagster_run_id=run_id).order_by("started_at", "id"))
    for log in logs:
        if log.step == PipelineRunLog.Step.EXTRACT_LOAD and log.status == PipelineRunLog.Status.SUCCESS:
            lines.append(f"Read {log.rows_read:,} rows from the file.")
            lines.append(f"Loaded {log.rows_loaded:,} rows into {log.target_table}.")
        elif log.step == PipelineRunLog.Step.TRANSFORM and log.status == PipelineRunLog.Status.SUCCESS:
            lines.append(f"Loaded {log.rows_loaded:,} rows into {log.target_table}.")
    failures = [log for log in logs if log.status == PipelineRunLog.Status.FAILURE]
    if result.success:
        return Outcome(True, run_id, tuple(lines))
    for log in failures[:1]:
        lines.append(f"Failed: {log.error_message}")
        if log.resolution_hint:
            lines.append(f"What to do: {log.resolution_hint}")
    if not failures:
        lines.append(
            f"Failed: the load stopped on an unexpected error. The details are in the Dagster run log (run {run_id})."
        )
    return Outcome(False, run_id, tuple(lines))


def load_file(import_name: str, path: str, *, force: bool = False, out: TextIO = sys.stdout) -> int:
    """Run ``import_name``'s whole path on the file at ``path``; print progress and the outcome."""
    raw = Path(path)
    if not raw.exists() and not raw.is_symlink():
        out.write(f"There is no file at {path}.\n")
        return EXIT_USAGE
    folder = Path(os.path.abspath(raw)).parent
    try:
        file = resolve_file_in_folder(folder, os.path.abspath(raw))
    except EngineError as exc:
        out.write(f"{exc.message}\n")
        return EXIT_USAGE
    specs, pipeline, spec = _find_import(import_name)
    if spec is None:
        out.write(_unknown_import_message(import_name, specs) + "\n")
        return EXIT_USAGE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = build_definitions(specs)
        if import_name in report.errors:
            out.write(f"The import {import_name} cannot run: {report.errors[import_name]}\n")
            return EXIT_USAGE
        job = dg.define_asset_job(
            JOB_NAME,
            selection=dg.AssetSelection.assets(spec.staging_asset_name, pipeline.transform_asset_name),
        )
        definitions = dg.Definitions(
            assets=report.definitions.assets,
            resources=report.definitions.resources,
            jobs=[job],
            loggers={"console": _console_logger(out)},
        )
        out.write(f"Loading {file.name} with import {import_name} (pipeline {pipeline.pipeline_name})...\n")
        result = definitions.resolve_job_def(JOB_NAME).execute_in_process(
            run_config=dg.RunConfig(
                ops={
                    spec.staging_asset_name: StagingLoadConfig(
                        file_paths=[str(file)], source_folder=str(file.parent), force=force
                    )
                }
            ),
            instance=_instance(),
            tags={
                TAG_IMPORT: import_name,
                TAG_PIPELINE: pipeline.pipeline_name,
                TAG_TRIGGER: "cli",
                TAG_USER: getpass.getuser(),
            },
            raise_on_error=False,
        )
    outcome = _outcome(result.run_id, result)
    for line in outcome.lines:
        out.write(line + "\n")
    if outcome.ok:
        out.write(f"Succeeded (run {outcome.run_id[:8]}).\n")
        return EXIT_OK
    return EXIT_FAILED
