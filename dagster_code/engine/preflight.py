"""Pre-flight: what loading a file would do, found by doing it in a transaction that is always rolled back.

The real code path runs (parser, column mapping, ``load_files`` into the real staging table under a
run id of its own, enrichment, every quality rule), so the report shows exactly what a run would see;
then everything is rolled back and no table changes. A file that cannot load is a report with a plain
error and a hint, not an exception.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from dagster_code.engine.enrichment import EnrichmentResult, EnrichmentRule
from dagster_code.engine.errors import EngineError
from dagster_code.engine.loader import load_files
from dagster_code.engine.mapping import ColumnMapping, Preview, describe_table, map_columns, preview_rows
from dagster_code.engine.parsers import Parser
from dagster_code.engine.quality import QualityRule, RuleResult, evaluate_rules

RUN_ID_PREFIX = "preflight-"


@dataclass(frozen=True)
class ColumnMatch:
    """Where one file column would go."""

    file_column: str
    staging_column: str


@dataclass(frozen=True)
class PreflightError:
    message: str
    hint: str = ""


@dataclass(frozen=True)
class PreflightReport:
    run_id: str
    rows_read: int = 0
    columns: tuple[ColumnMatch, ...] = ()
    unfilled_columns: tuple[str, ...] = ()  # staging columns the file leaves to their defaults
    preview: Preview | None = None
    enrichment: tuple[EnrichmentResult, ...] = ()
    rules: tuple[RuleResult, ...] = ()
    error: PreflightError | None = None

    @property
    def blocking_rules(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.blocks_run)

    @property
    def would_load(self) -> bool:
        """The file would load: it parses, maps and copies, and no FAIL rule fails."""
        return self.error is None and not self.blocking_rules


@dataclass
class _Found:
    """What the pre-flight learned before it was rolled back (or stopped by an error)."""

    rows_read: int = 0
    columns: tuple[ColumnMatch, ...] = ()
    unfilled: tuple[str, ...] = ()
    preview: Preview | None = None
    enrichment: tuple[EnrichmentResult, ...] = ()
    rules: tuple[RuleResult, ...] = ()


class _RollBack(Exception):
    """Raised at the end of the pre-flight's transaction so that nothing it did is kept."""


def preflight(
    conn: psycopg.Connection,
    *,
    path: Path | str,
    parser: Parser,
    options: Mapping[str, Any],
    column_mapping: ColumnMapping,
    staging_table: str,
    enrichment_rules: Sequence[EnrichmentRule] = (),
    quality_rules: Sequence[QualityRule] = (),
    key_columns: Sequence[str] = (),
    destination: str | None = None,
) -> PreflightReport:
    """Load ``path`` into ``staging_table``, enrich and check it as a run would; then roll it all back."""
    run_id = f"{RUN_ID_PREFIX}{uuid.uuid4()}"
    found = _Found()
    error = None
    try:
        with conn.transaction():
            _run(
                conn,
                found,
                run_id=run_id,
                path=Path(path),
                parser=parser,
                options=options,
                column_mapping=column_mapping,
                staging_table=staging_table,
                enrichment_rules=enrichment_rules,
                quality_rules=quality_rules,
                key_columns=key_columns,
                destination=destination,
            )
            raise _RollBack
    except _RollBack:
        pass
    except EngineError as exc:
        error = PreflightError(exc.message, exc.hint)
    return PreflightReport(
        run_id=run_id,
        rows_read=found.rows_read,
        columns=found.columns,
        unfilled_columns=found.unfilled,
        preview=found.preview,
        enrichment=found.enrichment,
        rules=found.rules,
        error=error,
    )


def _run(
    conn: psycopg.Connection,
    found: _Found,
    *,
    run_id: str,
    path: Path,
    parser: Parser,
    options: Mapping[str, Any],
    column_mapping: ColumnMapping,
    staging_table: str,
    enrichment_rules: Sequence[EnrichmentRule],
    quality_rules: Sequence[QualityRule],
    key_columns: Sequence[str],
    destination: str | None,
) -> None:
    staging = describe_table(conn, staging_table)
    header = parser(path, options).columns
    targets = map_columns(path.name, header, column_mapping, staging)
    found.columns = tuple(ColumnMatch(source, target) for source, target in zip(header, targets, strict=True))
    found.unfilled = tuple(c for c in staging.file_columns if c not in targets)
    result = load_files(
        conn,
        table=staging_table,
        files=[path],
        parser=parser,
        options=options,
        column_mapping=column_mapping,
        run_id=run_id,
        enrichment=enrichment_rules,
    )
    found.rows_read = result.rows_loaded
    found.enrichment = result.enrichment
    found.rules = tuple(
        evaluate_rules(
            conn,
            table=staging_table,
            run_id=run_id,
            rules=quality_rules,
            key_columns=key_columns,
            destination=destination,
        )
    )
    found.preview = preview_rows(conn, staging_table, run_id)
