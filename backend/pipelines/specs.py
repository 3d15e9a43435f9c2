"""The contract between the metadata and the orchestrator.

``load_active_specs()`` is the only way ``dagster_code`` reads configuration: it turns
active rows into frozen dataclasses that carry plain values (no ORM objects), and can be
serialised to JSON so a run worker rebuilds exactly the specs its run was launched with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SPECS_FORMAT_VERSION = 1


@dataclass(frozen=True)
class QualityRuleSpec:
    """An active data quality rule on a staging table (see launchpad_rules for the expressions)."""

    rule_id: int
    name: str
    table: str
    column: str
    check_type: str
    expression: str
    severity: str

    @property
    def check_name(self) -> str:
        """The Dagster asset check's name: the rule name, which is unique."""
        return self.name


@dataclass(frozen=True)
class EnrichmentRuleSpec:
    """An active enrichment rule: fill NULLs in a staging column from a lookup table by key."""

    rule_id: int
    name: str
    staging_table: str
    target_column: str
    lookup_table: str
    staging_key: str
    lookup_key: str
    lookup_value: str


@dataclass(frozen=True)
class ImportSpec:
    import_name: str
    pipeline_name: str
    file_type: str
    file_pattern: str
    staging_table: str
    destination_table: str
    load_method: str = "replace"
    description: str = ""
    monitored_directory: str = ""
    sensor_enabled: bool = True
    parser_function: str | None = None
    scraper_config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    column_mapping: list[str] | list[list[str]] | dict[str, str] | None = field(default=None, hash=False, compare=False)
    transform_procedure: str | None = None
    transform_strategy: str = "insert"
    deduplication_key: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    on_success_activate: str | None = None
    batch_window_seconds: int = 0
    min_file_age_seconds: int = 0
    schedule: str = ""
    partitioning: str = "none"
    version: int = 1
    enrichment_rules: tuple[EnrichmentRuleSpec, ...] = field(default=(), hash=False, compare=False)
    quality_rules: tuple[QualityRuleSpec, ...] = field(default=(), hash=False, compare=False)

    @property
    def staging_asset_name(self) -> str:
        return f"{self.import_name}_extract_and_load_staging"

    @property
    def sensor_name(self) -> str:
        return f"{self.import_name}_file_sensor"


@dataclass(frozen=True)
class PipelineSpec:
    """A pipeline group: its imports in dependency order."""

    pipeline_name: str
    imports: tuple[ImportSpec, ...]

    @property
    def transform_asset_name(self) -> str:
        return f"{self.pipeline_name}_transform"


@dataclass(frozen=True)
class LaunchpadSpecs:
    pipelines: tuple[PipelineSpec, ...] = ()

    @property
    def imports(self) -> tuple[ImportSpec, ...]:
        return tuple(spec for pipeline in self.pipelines for spec in pipeline.imports)

    def to_json(self) -> str:
        payload = {"format": SPECS_FORMAT_VERSION, "imports": [asdict(spec) for spec in self.imports]}
        return json.dumps(payload, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> LaunchpadSpecs:
        payload = json.loads(text)
        if payload.get("format") != SPECS_FORMAT_VERSION:
            raise ValueError(f"Unsupported specs format {payload.get('format')!r}")
        imports = []
        for row in payload["imports"]:
            row["deduplication_key"] = tuple(row["deduplication_key"])
            row["depends_on"] = tuple(row["depends_on"])
            row["enrichment_rules"] = tuple(EnrichmentRuleSpec(**r) for r in row.get("enrichment_rules", ()))
            row["quality_rules"] = tuple(QualityRuleSpec(**r) for r in row.get("quality_rules", ()))
            imports.append(ImportSpec(**row))
        return group_imports(imports)


def _order_by_dependencies(imports: list[ImportSpec]) -> list[ImportSpec]:
    """Stable topological order inside a group (dependencies outside the group are ignored)."""
    by_name = {spec.import_name: spec for spec in imports}
    ordered: list[ImportSpec] = []
    placed: set[str] = set()

    def place(spec: ImportSpec, trail: frozenset[str]) -> None:
        if spec.import_name in placed or spec.import_name in trail:
            return
        for dep in spec.depends_on:
            if dep in by_name:
                place(by_name[dep], trail | {spec.import_name})
        placed.add(spec.import_name)
        ordered.append(spec)

    for spec in sorted(imports, key=lambda s: s.import_name):
        place(spec, frozenset())
    return ordered


def group_imports(imports: list[ImportSpec]) -> LaunchpadSpecs:
    groups: dict[str, list[ImportSpec]] = {}
    for spec in imports:
        groups.setdefault(spec.pipeline_name, []).append(spec)
    return LaunchpadSpecs(
        pipelines=tuple(
            PipelineSpec(pipeline_name=name, imports=tuple(_order_by_dependencies(members)))
            for name, members in sorted(groups.items())
        )
    )


def _rule_specs() -> tuple[dict[str, list[QualityRuleSpec]], dict[str, list[EnrichmentRuleSpec]]]:
    """Active rules by the staging table they apply to, in name order."""
    from backend.pipelines.models import DataEnrichmentRule, DataQualityRule

    quality: dict[str, list[QualityRuleSpec]] = {}
    for rule in DataQualityRule.objects.filter(is_active=True).order_by("rule_name"):
        quality.setdefault(rule.target_table, []).append(
            QualityRuleSpec(
                rule_id=rule.pk,
                name=rule.rule_name,
                table=rule.target_table,
                column=rule.target_column,
                check_type=rule.check_type,
                expression=rule.check_expression,
                severity=rule.severity,
            )
        )
    enrichment: dict[str, list[EnrichmentRuleSpec]] = {}
    for rule in DataEnrichmentRule.objects.filter(is_active=True).order_by("rule_name"):
        enrichment.setdefault(rule.target_staging_table, []).append(
            EnrichmentRuleSpec(
                rule_id=rule.pk,
                name=rule.rule_name,
                staging_table=rule.target_staging_table,
                target_column=rule.target_column_to_enrich,
                lookup_table=rule.lookup_table,
                staging_key=rule.lookup_key_column_staging,
                lookup_key=rule.lookup_key_column_lookup,
                lookup_value=rule.lookup_value_column,
            )
        )
    return quality, enrichment


def _import_spec(config, quality=None, enrichment=None) -> ImportSpec:
    return ImportSpec(
        import_name=config.import_name,
        pipeline_name=config.pipeline_name,
        description=config.description,
        file_type=config.file_type,
        file_pattern=config.file_pattern,
        monitored_directory=config.monitored_directory,
        sensor_enabled=config.sensor_enabled,
        parser_function=config.parser_function or None,
        scraper_config=dict(config.scraper_config or {}),
        column_mapping=config.column_mapping or None,
        staging_table=config.staging_table,
        destination_table=config.destination_table,
        transform_procedure=config.transform_procedure or None,
        transform_strategy=config.transform_strategy,
        load_method=config.load_method,
        deduplication_key=tuple(k.strip() for k in config.deduplication_key.split(",") if k.strip()),
        depends_on=tuple(sorted(dep.import_name for dep in config.depends_on.all())),
        on_success_activate=(
            config.on_success_deactivate_self_and_activate_import.import_name
            if config.on_success_deactivate_self_and_activate_import
            else None
        ),
        batch_window_seconds=config.batch_window_seconds,
        min_file_age_seconds=config.min_file_age_seconds,
        schedule=config.schedule,
        partitioning=config.partitioning,
        version=config.version,
        enrichment_rules=tuple((enrichment or {}).get(config.staging_table, ())),
        quality_rules=tuple((quality or {}).get(config.staging_table, ())),
    )


def load_active_specs() -> LaunchpadSpecs:
    """All active imports as frozen specs, grouped by pipeline, dependencies first."""
    from backend.db import drop_stale_connection
    from backend.pipelines.models import PipelineConfig

    drop_stale_connection()
    configs = (
        PipelineConfig.objects.filter(is_active=True)
        .select_related("on_success_deactivate_self_and_activate_import")
        .prefetch_related("depends_on")
    )
    quality, enrichment = _rule_specs()
    return group_imports([_import_spec(config, quality, enrichment) for config in configs])


def import_spec_active(import_name: str) -> ImportSpec | None:
    """One active import as the orchestrator sees it (with its staging table's active rules), else None."""
    from backend.pipelines.models import PipelineConfig

    config = (
        PipelineConfig.objects.filter(import_name=import_name, is_active=True)
        .select_related("on_success_deactivate_self_and_activate_import")
        .prefetch_related("depends_on")
        .first()
    )
    if config is None:
        return None
    quality, enrichment = _rule_specs()
    return _import_spec(config, quality, enrichment)


def engine_rules(spec: ImportSpec) -> tuple[list, list]:
    """The import's active rules as the engine takes them (the staging asset and the pre-flight alike)."""
    from dagster_code.engine.enrichment import EnrichmentRule
    from dagster_code.engine.quality import QualityRule

    enrichment = [
        EnrichmentRule(
            name=r.name,
            staging_table=spec.staging_table,
            target_column=r.target_column,
            lookup_table=r.lookup_table,
            staging_key=r.staging_key,
            lookup_key=r.lookup_key,
            lookup_value=r.lookup_value,
        )
        for r in spec.enrichment_rules
    ]
    quality = [
        QualityRule(r.name, spec.staging_table, r.column, r.check_type, r.expression, r.severity)
        for r in spec.quality_rules
    ]
    return enrichment, quality


@dataclass(frozen=True)
class AnalyticsSpec:
    """One active AnalyticsConfig as the batch analytics asset needs it (read when the asset runs)."""

    config_id: int
    target_table: str
    date_column: str
    value_column: str
    model_type: str
    horizon: int
    alert_webhook_url: str = field(default="", repr=False)

    @property
    def label(self) -> str:
        return f"{self.model_type} {self.target_table}.{self.value_column}"


def load_analytics_specs() -> list[AnalyticsSpec]:
    """The active analytics configs, by table and column."""
    from backend.db import drop_stale_connection
    from backend.pipelines.models import AnalyticsConfig

    drop_stale_connection()
    return [
        AnalyticsSpec(
            config_id=c.pk,
            target_table=c.target_table if "." in c.target_table else f"public.{c.target_table}",
            date_column=c.date_column,
            value_column=c.value_column,
            model_type=c.model_type,
            horizon=c.horizon,
            alert_webhook_url=c.alert_webhook_url,
        )
        for c in AnalyticsConfig.objects.filter(is_active=True)
    ]
