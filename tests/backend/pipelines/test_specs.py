"""load_active_specs(): active rows only, grouped, dependencies first, and a lossless JSON round trip."""

from __future__ import annotations

import dataclasses

import pytest

from backend.pipelines.specs import ImportSpec, LaunchpadSpecs, import_spec_active, load_active_specs
from tests.factories import DataEnrichmentRuleFactory, DataQualityRuleFactory, PipelineConfigFactory

pytestmark = pytest.mark.django_db


def test_specs_are_frozen_grouped_and_only_active():
    PipelineConfigFactory(pipeline_name="B", import_name="b_one")
    PipelineConfigFactory(pipeline_name="A", import_name="a_one", scraper_config={"delimiter": ";"})
    PipelineConfigFactory(pipeline_name="A", import_name="a_off", is_active=False)

    specs = load_active_specs()

    assert [p.pipeline_name for p in specs.pipelines] == ["A", "B"]
    assert [s.import_name for s in specs.imports] == ["a_one", "b_one"]
    spec = specs.imports[0]
    assert spec.staging_table == "staging.a_one"
    assert spec.scraper_config == {"delimiter": ";"}
    assert spec.staging_asset_name == "a_one_extract_and_load_staging"
    assert specs.pipelines[0].transform_asset_name == "A_transform"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.staging_table = "x"  # type: ignore[misc]


def test_imports_in_a_group_come_after_their_dependencies():
    last = PipelineConfigFactory(pipeline_name="G", import_name="a_last")
    middle = PipelineConfigFactory(pipeline_name="G", import_name="b_middle")
    first = PipelineConfigFactory(pipeline_name="G", import_name="c_first")
    last.depends_on.add(middle)
    middle.depends_on.add(first)

    assert [s.import_name for s in load_active_specs().imports] == ["c_first", "b_middle", "a_last"]


def test_specs_survive_a_json_round_trip_exactly():
    switch_to = PipelineConfigFactory(import_name="delta", is_active=False)
    config = PipelineConfigFactory(
        import_name="initial",
        load_method="append",
        deduplication_key="sale_id, sale_date",
        column_mapping={"Sale ID": "sale_id"},
        on_success_deactivate_self_and_activate_import=switch_to,
        schedule="0 6 * * 1-5",
    )
    config.depends_on.add(PipelineConfigFactory(import_name="upstream"))
    specs = load_active_specs()

    again = LaunchpadSpecs.from_json(specs.to_json())

    assert again == specs
    spec = next(s for s in again.imports if s.import_name == "initial")
    assert spec.deduplication_key == ("sale_id", "sale_date")
    assert spec.depends_on == ("upstream",)
    assert spec.on_success_activate == "delta"
    assert spec.column_mapping == {"Sale ID": "sale_id"}
    assert isinstance(spec, ImportSpec)


def test_unknown_specs_format_is_refused():
    with pytest.raises(ValueError, match="Unsupported specs format"):
        LaunchpadSpecs.from_json('{"format": 99, "imports": []}')


def test_one_active_import_is_the_spec_the_orchestrator_builds_with_its_tables_active_rules():
    PipelineConfigFactory(pipeline_name="A", import_name="sales", staging_table="staging.sales")
    PipelineConfigFactory(pipeline_name="A", import_name="old", is_active=False)
    DataQualityRuleFactory(rule_name="id_present", target_table="staging.sales")
    DataQualityRuleFactory(rule_name="switched_off", target_table="staging.sales", is_active=False)
    DataQualityRuleFactory(rule_name="other_table", target_table="staging.other")
    DataEnrichmentRuleFactory(rule_name="category", target_staging_table="staging.sales")

    spec = import_spec_active("sales")

    assert spec == load_active_specs().imports[0]
    assert [r.name for r in spec.quality_rules] == ["id_present"]
    assert [r.name for r in spec.enrichment_rules] == ["category"]
    assert import_spec_active("old") is None
    assert import_spec_active("nope") is None
