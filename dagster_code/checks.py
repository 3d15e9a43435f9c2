"""Quality rules and enrichment as Dagster sees them: asset check specs, check results, the quality log.

The rules run inside the staging asset, in the load's transaction, right after the rows are
staged: enrichment fills gaps first, then every rule of the staging table is evaluated in as
few scans as the engine can manage. A failing FAIL rule rolls the load back (staging and
destination stay as they were) and the asset yields its check results before failing, so
Dagster shows which rule stopped the run; WARN rules are logged and the load goes on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import dagster as dg

from backend.pipelines.specs import ImportSpec
from dagster_code.engine.enrichment import EnrichmentResult
from dagster_code.engine.quality import RuleResult

QUALITY_HINT = (
    "Fix the failing rows in the file (or the rule in the admin) and load the file again; nothing was loaded."
)


class QualityHalt(Exception):
    """Raised inside the load's transaction to roll it back when a FAIL rule fails."""

    def __init__(self, failed: Sequence[RuleResult]) -> None:
        super().__init__(halt_message(failed))
        self.failed = tuple(failed)


def check_specs(spec: ImportSpec) -> list[dg.AssetCheckSpec]:
    """One asset check per active rule on the import's staging table; FAIL rules block the transform."""
    return [
        dg.AssetCheckSpec(
            rule.check_name,
            asset=spec.staging_asset_name,
            blocking=rule.severity == "FAIL",
            description=f"{rule.check_type} on {rule.column or spec.staging_table} ({rule.severity})",
        )
        for rule in spec.quality_rules
    ]


def halt_message(failed: Sequence[RuleResult]) -> str:
    return "Stopped by data quality: " + " ".join(r.message for r in failed)


def check_results(spec: ImportSpec, results: Sequence[RuleResult]) -> list[dg.AssetCheckResult]:
    by_name = {r.name: r for r in results}
    out = []
    for rule in spec.quality_rules:
        result = by_name.get(rule.name)
        if result is None:
            continue
        out.append(
            dg.AssetCheckResult(
                check_name=rule.check_name,
                asset_key=dg.AssetKey(spec.staging_asset_name),
                passed=result.passed,
                severity=dg.AssetCheckSeverity.ERROR if rule.severity == "FAIL" else dg.AssetCheckSeverity.WARN,
                description=result.message,
                metadata={
                    "rows_checked": dg.MetadataValue.int(int(result.rows_checked)),
                    "rows_failing": dg.MetadataValue.int(int(result.rows_failing)),
                    "sample": dg.MetadataValue.json(json.loads(json.dumps(list(result.sample), default=str))),
                },
            )
        )
    return out


def not_run_results(spec: ImportSpec, reason: str) -> list[dg.AssetCheckResult]:
    """Results for a run that staged nothing new: no rows to check, said plainly."""
    return [
        dg.AssetCheckResult(
            check_name=rule.check_name,
            asset_key=dg.AssetKey(spec.staging_asset_name),
            passed=True,
            description=f"Not evaluated: {reason}",
            metadata={"rows_checked": dg.MetadataValue.int(0)},
        )
        for rule in spec.quality_rules
    ]


def quality_records(spec: ImportSpec, run_id: str, results: Sequence[RuleResult]) -> list:
    from dagster_code.bridge import recording

    ids = {r.name: r.rule_id for r in spec.quality_rules}
    return [
        recording.QualityRecord(
            dagster_run_id=run_id,
            rule_id=ids.get(r.name),
            rule_name=r.name,
            import_name=spec.import_name,
            target_table=spec.staging_table,
            check_type=r.check_type,
            severity=r.severity,
            rows_checked=r.rows_checked,
            rows_failing=r.rows_failing,
            passed=r.passed,
            message=r.message,
            sample=tuple(r.sample),
        )
        for r in results
    ]


def log_outcomes(context, enriched: Sequence[EnrichmentResult], results: Sequence[RuleResult]) -> None:
    for r in enriched:
        context.log.info(f"Enrichment {r.name}: {r.filled:,} value(s) filled, {r.still_missing:,} still missing")
    for r in results:
        if r.passed:
            context.log.info(
                f"Quality {r.name}: passed ({r.rows_checked:,} row{'' if r.rows_checked == 1 else 's'} checked)"
            )
        elif r.severity == "WARN":
            context.log.warning(f"Quality warning: {r.message}")
        else:
            context.log.error(f"Quality failure: {r.message}")
