"""Dry checks against the warehouse that change nothing: a file's pre-flight, a rule tried on the last run.

Both run the engine's real code (``dagster_code.engine``, the library the orchestrator uses) inside a
transaction that is always rolled back. The same functions serve the dashboard, the admin and
``load_file --dry-run``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404

from backend.pipelines.models import DataQualityRule, PipelineConfig
from backend.pipelines.specs import ImportSpec, engine_rules, import_spec_active
from backend.runs.models import PipelineRunLog
from backend.runs.selectors import pipeline_access
from dagster_code.engine.errors import EngineError
from dagster_code.engine.parsers import get_parser
from dagster_code.engine.preflight import PreflightError, PreflightReport, preflight
from dagster_code.engine.quality import QualityRule, RuleResult, evaluate_rules

log = logging.getLogger("launchpad.preflight")

WAREHOUSE_DOWN = PreflightError(
    "The warehouse could not be reached, so the file was not checked.",
    "Try again in a moment; if it persists, ask an administrator to check the warehouse database.",
)


def _connect(warehouse_url: str | None) -> psycopg.Connection:
    url = warehouse_url or settings.WAREHOUSE_URL
    return psycopg.connect(url, autocommit=True, connect_timeout=15, application_name="launchpad-preflight")


def import_spec_runnable(user, import_name: str) -> ImportSpec:
    """The active import ``user`` may run; 404 when they may not see it, 403 when they may only look."""
    config = PipelineConfig.objects.filter(import_name=import_name, is_active=True).first()
    access = pipeline_access(user).get(config.pipeline_name) if config else None
    if access is None:
        raise Http404(f"No such import: {import_name}.")
    if not access.can_run:
        raise PermissionDenied(f"You may look at but not run: {import_name}.")
    return import_spec_active(import_name)


def file_preflight(spec: ImportSpec, path: Path, *, warehouse_url: str | None = None) -> PreflightReport:
    """What loading ``path`` with ``spec`` would do (rows, mapping, preview, fills, every rule); changes nothing."""
    try:
        parser = get_parser(spec.file_type, spec.parser_function)
    except EngineError as exc:
        return PreflightReport(run_id="", error=PreflightError(exc.message, exc.hint))
    enrichment, quality = engine_rules(spec)
    try:
        with _connect(warehouse_url) as conn:
            return preflight(
                conn,
                path=path,
                parser=parser,
                options=spec.scraper_config,
                column_mapping=spec.column_mapping,
                staging_table=spec.staging_table,
                enrichment_rules=enrichment,
                quality_rules=quality,
                key_columns=spec.deduplication_key,
                destination=spec.destination_table,
            )
    except psycopg.OperationalError as exc:
        log.warning("pre-flight of %s for %s: %s", path.name, spec.import_name, exc)
        return PreflightReport(run_id="", error=WAREHOUSE_DOWN)


@dataclass(frozen=True)
class RuleTrial:
    """One rule evaluated on the rows the latest load staged into its table (or why it could not be)."""

    rule_name: str
    dagster_run_id: str = ""
    import_name: str = ""
    result: RuleResult | None = None
    error: str = ""

    @property
    def summary(self) -> str:
        """One plain line: which run the rule was tried on and its outcome (with up to 5 failing rows)."""
        if self.result is None and not self.dagster_run_id:
            return f"Rule {self.rule_name} was not tried: {self.error}"
        where = f"the last load of {self.import_name} (run {self.dagster_run_id[:8]})"
        if self.result is None:
            return f"Rule {self.rule_name} could not be tried on {where}: {self.error}"
        outcome = "passed" if self.result.passed else ("FAILED" if self.result.severity == "FAIL" else "warning")
        return f"Tried on {where}: {outcome}. {self.result.message} Nothing was changed."


class _RollBack(Exception):
    pass


def quality_rule_try_on_last_run(rule: DataQualityRule, *, warehouse_url: str | None = None) -> RuleTrial:
    """Evaluate ``rule`` (active or not) on the staging rows of the latest load into its table; changes nothing."""
    last = (
        PipelineRunLog.objects.filter(
            step=PipelineRunLog.Step.EXTRACT_LOAD,
            status=PipelineRunLog.Status.SUCCESS,
            target_table=rule.target_table,
            rows_loaded__gt=0,
        )
        .order_by("-started_at", "-id")
        .first()
    )
    if last is None:
        return RuleTrial(rule.rule_name, error=f"No run has loaded rows into {rule.target_table} yet.")
    config = PipelineConfig.objects.filter(import_name=last.import_name).first()
    checked = QualityRule(
        rule.rule_name, rule.target_table, rule.target_column, rule.check_type, rule.check_expression, rule.severity
    )
    trial = RuleTrial(rule.rule_name, dagster_run_id=last.dagster_run_id, import_name=last.import_name)
    results: list[RuleResult] = []
    try:
        with _connect(warehouse_url) as conn:
            try:
                with conn.transaction():
                    results = evaluate_rules(
                        conn,
                        table=rule.target_table,
                        run_id=last.dagster_run_id,
                        rules=[checked],
                        destination=config.destination_table if config else None,
                    )
                    raise _RollBack
            except _RollBack:
                pass
    except EngineError as exc:
        return replace(trial, error=exc.message)
    except psycopg.OperationalError as exc:
        log.warning("trying rule %s: %s", rule.rule_name, exc)
        return replace(trial, error="The warehouse could not be reached, so the rule was not tried.")
    return replace(trial, result=results[0])
