"""The whole code location built over a seeded database: asset keys, sensors, error boundaries, pinning."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType
from dagster._core.definitions.repository_definition.repository_definition import RepositoryLoadData

from backend.pipelines.models import PipelineConfig
from backend.pipelines.specs import load_active_specs
from dagster_code.definitions import SPECS_METADATA_KEY, defs
from tests.factories import PipelineConfigFactory

pytestmark = pytest.mark.django_db


def _keys(definitions: dg.Definitions) -> set[str]:
    """The asset keys built from configs (the analytics asset is always there: tested on its own)."""
    return {key.to_user_string() for key in definitions.resolve_all_asset_keys()} - {"run_predictive_analytics"}


def test_each_active_import_gets_a_staging_asset_a_group_transform_and_a_sensor():
    PipelineConfigFactory(pipeline_name="Sales", import_name="orders")
    PipelineConfigFactory(pipeline_name="Sales", import_name="returns", monitored_directory="")
    PipelineConfigFactory(pipeline_name="Stock", import_name="stock_levels")
    PipelineConfigFactory(pipeline_name="Stock", import_name="old_stock", is_active=False)

    definitions = defs()

    assert _keys(definitions) == {
        "orders_extract_and_load_staging",
        "returns_extract_and_load_staging",
        "Sales_transform",
        "stock_levels_extract_and_load_staging",
        "Stock_transform",
    }
    assert {s.name for s in definitions.sensors} == {"orders_file_sensor", "stock_levels_file_sensor"}
    graph = definitions.resolve_asset_graph()
    transform = graph.get(dg.AssetKey("Sales_transform"))
    assert transform.group_name == "Sales"
    assert {k.to_user_string() for k in transform.parent_keys} == {
        "orders_extract_and_load_staging",
        "returns_extract_and_load_staging",
    }


def test_depends_on_orders_staging_assets_even_across_groups():
    customers = PipelineConfigFactory(pipeline_name="Sales", import_name="customers")
    orders = PipelineConfigFactory(pipeline_name="Sales", import_name="orders")
    stock = PipelineConfigFactory(pipeline_name="Stock", import_name="stock_levels")
    retired = PipelineConfigFactory(pipeline_name="Stock", import_name="retired", is_active=False)
    orders.depends_on.add(customers)
    stock.depends_on.add(orders, retired)

    graph = defs().resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}

    assert parents("orders_extract_and_load_staging") == {"customers_extract_and_load_staging"}
    assert parents("stock_levels_extract_and_load_staging") == {"orders_extract_and_load_staging"}
    assert parents("customers_extract_and_load_staging") == set()


def test_a_pattern_with_a_folder_is_refused_when_definitions_load():
    PipelineConfig.objects.bulk_create(
        [PipelineConfigFactory.build(pipeline_name="Sales", import_name="escape", file_pattern="../../etc/passwd")]
    )

    definitions = defs()

    assert "escape_extract_and_load_staging" not in _keys(definitions)
    assert "must be a file name pattern" in PipelineConfig.objects.get(import_name="escape").definition_error


def test_a_broken_config_is_skipped_and_the_reason_is_recorded_for_admins():
    PipelineConfigFactory(pipeline_name="Sales", import_name="good")
    PipelineConfigFactory(pipeline_name="Sales", import_name="bad", file_type="custom", parser_function="no_such")

    definitions = defs()

    assert _keys(definitions) == {"good_extract_and_load_staging", "Sales_transform"}
    bad = PipelineConfig.objects.get(import_name="bad")
    assert "No parser is registered for 'no_such'" in bad.definition_error
    assert PipelineConfig.objects.get(import_name="good").definition_error == ""

    PipelineConfig.objects.filter(import_name="bad").update(file_type="csv")
    defs()
    assert PipelineConfig.objects.get(import_name="bad").definition_error == ""


def test_a_run_worker_rebuilds_from_the_pinned_specs_not_the_current_rows():
    PipelineConfigFactory(pipeline_name="Sales", import_name="pinned_import")
    pinned = load_active_specs().to_json()
    PipelineConfig.objects.filter(import_name="pinned_import").update(is_active=False)
    PipelineConfigFactory(pipeline_name="Sales", import_name="added_later")

    context = DefinitionsLoadContext(
        DefinitionsLoadType.RECONSTRUCTION, RepositoryLoadData(reconstruction_metadata={SPECS_METADATA_KEY: pinned})
    )
    with DefinitionsLoadContext.scoped(context):
        rebuilt = defs()

    assert _keys(rebuilt) == {"pinned_import_extract_and_load_staging", "Sales_transform"}
    assert _keys(defs()) == {"added_later_extract_and_load_staging", "Sales_transform"}


def test_a_fresh_load_pins_the_specs_into_the_load_data_run_workers_receive():
    PipelineConfigFactory(pipeline_name="Sales", import_name="pinned_import")
    context = DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION)
    with DefinitionsLoadContext.scoped(context):
        defs()
    pinned = context.get_pending_reconstruction_metadata()[SPECS_METADATA_KEY]
    assert pinned == load_active_specs().to_json()


def test_dagster_validates_the_code_location():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "dagster_code.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
