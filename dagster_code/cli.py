"""One file through one import from the command line, with the asset code a sensor run uses.

``python manage.py load_file [--force | --dry-run] IMPORT_NAME PATH`` builds the code location's
definitions, then executes that import's staging asset and its group's transform in this
process (Dagster's ``execute_in_process``), so parsing, mapping, the ledger, the load and
the transform are exactly what a watched folder would do. Progress lines are printed as the
asset logs them; the outcome is read back from the business log. Errors are the plain
messages users see everywhere else: no traceback (that stays in the Dagster run log).
With ``--dry-run`` Dagster does not run: the file gets the pre-flight check (the engine's real load,
enrichment and rules in a transaction that is rolled back) and the report is printed.
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
from dagster_code.engine.preflight import PreflightReport
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
    """The Dagster instance of this installation when one is configured, so the run shows in its UI.

    The storage set-up's own log lines (alembic) are not the user's business here.
    """
    logging.getLogger("alembic").setLevel(logging.WARNING)
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


def _table_lines(columns: tuple[str, ...], rows: tuple[tuple[str | None, ...], ...]) -> list[str]:
    cells = [list(columns)] + [["" if v is None else v for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return ["  " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def _report_lines(report: PreflightReport) -> list[str]:
    """A pre-flight report as plain lines: rows, mapping, preview, enrichment fills, every rule's outcome."""
    lines = [f"Read {report.rows_read:,} rows from the file."] if report.error is None or report.rows_read else []
    if report.columns:
        lines.append("Columns (file -> staging):")
        lines += [f"  {c.file_column} -> {c.staging_column}" for c in report.columns]
        if report.unfilled_columns:
            lines.append(f"  left to their defaults: {', '.join(report.unfilled_columns)}")
    if report.preview is not None:
        lines.append(f"Preview (first {len(report.preview.rows)} rows, after enrichment):")
        lines += _table_lines(tuple(name for name, _ in report.preview.columns), report.preview.rows)
    if report.enrichment:
        lines.append("Enrichment:")
        lines += [
            f"  {e.name}: {e.filled:,} value(s) filled, {e.still_missing:,} still missing" for e in report.enrichment
        ]
    if report.rules:
        lines.append("Quality rules:")
        for r in report.rules:
            outcome = "PASS" if r.passed else r.severity
            lines.append(f"  {outcome} {r.name} ({r.check_type}, {r.severity}): {r.message}")
    if report.error is not None:
        lines.append(f"Failed: {report.error.message}")
        if report.error.hint:
            lines.append(f"What to do: {report.error.hint}")
    elif report.blocking_rules:
        names = ", ".join(r.name for r in report.blocking_rules)
        lines.append(f"Failed: the load would be stopped by data quality ({names}).")
    else:
        lines.append("The file would load.")
    return lines


def dry_run(import_name: str, file: Path, *, out: TextIO = sys.stdout) -> int:
    """The pre-flight of ``file`` with ``import_name``: the real load path, rolled back; no Dagster run."""
    from backend.runs.preflight import file_preflight

    specs, pipeline, spec = _find_import(import_name)
    if spec is None:
        out.write(_unknown_import_message(import_name, specs) + "\n")
        return EXIT_USAGE
    out.write(f"Checking {file.name} with import {import_name} (pipeline {pipeline.pipeline_name}), dry run...\n")
    report = file_preflight(spec, file, warehouse_url=os.environ.get("WAREHOUSE_URL") or None)
    for line in _report_lines(report):
        out.write(line + "\n")
    out.write("Nothing was changed (dry run).\n")
    return EXIT_OK if report.would_load else EXIT_FAILED


def load_file(
    import_name: str, path: str, *, force: bool = False, dry_run_only: bool = False, out: TextIO = sys.stdout
) -> int:
    """Run ``import_name``'s whole path on the file at ``path``; print progress and the outcome.

    With ``dry_run_only`` nothing loads: the file gets the pre-flight check instead (see :func:`dry_run`).
    """
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
    if dry_run_only:
        return dry_run(import_name, file, out=out)
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
                },
                loggers={"console": {}},  # only the plain logger: Dagster's own console log stays quiet
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
