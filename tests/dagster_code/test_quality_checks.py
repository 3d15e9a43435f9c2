"""Quality rules and enrichment inside the demo import: asset checks, the quality log, halting bad loads."""

from __future__ import annotations

import psycopg
import pytest

from backend.pipelines.specs import load_active_specs
from backend.runs.models import LoadedFile, PipelineRunLog, QualityRunLog
from dagster_code.factory import build_definitions
from dagster_code.resources import WarehouseResource
from tests.dagster_code.conftest import drop_demo_file
from tests.dagster_code.test_end_to_end import _materialize
from tests.factories import DataQualityRuleFactory, demo_region_and_quantity_rules, demo_region_from_sku_rule

pytestmark = pytest.mark.django_db

HEADER = "sale_id,sale_date,region,product_sku,quantity,amount\n"
STAGING = "daily_sales_extract_and_load_staging"


def _definitions(url: str):
    return build_definitions(load_active_specs(), WarehouseResource(url=url))


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT count(*) FROM staging.daily_sales").fetchone()[0],
            conn.execute("SELECT count(*) FROM dw.sales").fetchone()[0],
        )


def _evaluations(result) -> dict[str, bool]:
    return {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.fixture
def rules(demo_pipeline):
    demo_region_and_quantity_rules()


def test_each_rule_is_an_asset_check_on_the_staging_asset(rules, demo_warehouse):
    graph = _definitions(demo_warehouse).definitions.resolve_asset_graph()

    keys = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert keys == {(STAGING, "known_region"), (STAGING, "quantity_positive")}


def test_passing_rules_and_a_warning_let_the_load_through_and_are_logged(rules, demo_warehouse, incoming):
    path = incoming / "sales_2024-01-05.csv"
    path.write_text(HEADER + "1,2024-01-05,North,SKU-1,0,1.00\n2,2024-01-05,West,SKU-2,3,2.00\n")

    result = _materialize(_definitions(demo_warehouse), [path])

    assert result.success
    assert _evaluations(result) == {"known_region": True, "quantity_positive": False}
    assert _counts(demo_warehouse) == (2, 2)
    logs = {log.rule_name: log for log in QualityRunLog.objects.filter(dagster_run_id=result.run_id)}
    assert (logs["known_region"].outcome, logs["known_region"].rows_checked) == ("PASS", 2)
    warning = logs["quantity_positive"]
    assert (warning.outcome, warning.failing_rows, warning.rule.rule_name) == ("WARN", 1, "quantity_positive")
    assert "1 of 2 rows" in warning.detail
    step = PipelineRunLog.objects.get(dagster_run_id=result.run_id, step="extract_load")
    assert set(step.phase_durations) == {"parse", "load", "quality"}


def test_a_failing_fail_rule_halts_before_the_transform_and_changes_nothing(rules, demo_warehouse, incoming):
    assert _materialize(_definitions(demo_warehouse), [drop_demo_file(incoming)]).success
    before = _counts(demo_warehouse)
    path = incoming / "sales_2024-01-06.csv"
    path.write_text(HEADER + "900,2024-01-06,Mars,SKU-1,2,1.00\n901,2024-01-06,North,SKU-2,2,2.00\n")

    result = _materialize(_definitions(demo_warehouse), [path])

    assert not result.success
    assert _counts(demo_warehouse) == before
    assert _evaluations(result) == {"known_region": False, "quantity_positive": True}
    failure = PipelineRunLog.objects.get(dagster_run_id=result.run_id, step="extract_load")
    assert failure.status == "FAILURE"
    assert failure.error_message.startswith("Stopped by data quality: known_region: 1 of 2 rows fail")
    assert "900" in failure.error_message  # a sample key
    assert failure.resolution_hint
    assert not PipelineRunLog.objects.filter(dagster_run_id=result.run_id, step="transform").exists()
    log = QualityRunLog.objects.get(dagster_run_id=result.run_id, rule_name="known_region")
    assert (log.outcome, log.failing_rows) == ("FAIL", 1)
    assert LoadedFile.objects.get(dagster_run_id=result.run_id).status == "FAILED"


def test_enrichment_fills_gaps_from_a_lookup_before_the_rules(rules, demo_warehouse, incoming):
    with psycopg.connect(demo_warehouse, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS dw.sku_regions (sku text PRIMARY KEY, region text)")
        conn.execute("INSERT INTO dw.sku_regions VALUES ('SKU-1', 'North') ON CONFLICT DO NOTHING")
    demo_region_from_sku_rule()
    path = incoming / "sales_2024-01-07.csv"
    path.write_text(HEADER + "1,2024-01-07,,SKU-1,2,1.00\n2,2024-01-07,South,SKU-1,2,1.00\n")

    result = _materialize(_definitions(demo_warehouse), [path])

    assert result.success
    with psycopg.connect(demo_warehouse) as conn:
        regions = conn.execute("SELECT sale_id, region FROM dw.sales ORDER BY 1").fetchall()
    assert regions == [(1, "North"), (2, "South")]


def test_a_failing_unique_rule_halts_with_its_counts(rules, demo_warehouse, incoming):
    DataQualityRuleFactory(
        rule_name="one_row_per_sale",
        target_table="staging.daily_sales",
        target_column="sale_id",
        check_type="UNIQUE",
        check_expression="",
        severity="FAIL",
    )
    path = incoming / "sales_2024-01-08.csv"
    path.write_text(HEADER + "5,2024-01-08,North,SKU-1,2,1.00\n5,2024-01-08,South,SKU-2,2,2.00\n")

    result = _materialize(_definitions(demo_warehouse), [path])

    assert not result.success
    assert _evaluations(result)["one_row_per_sale"] is False
    log = QualityRunLog.objects.get(dagster_run_id=result.run_id, rule_name="one_row_per_sale")
    assert (log.outcome, log.failing_rows) == ("FAIL", 2)
    assert _counts(demo_warehouse) == (0, 0)
