"""Dry checks that change nothing: a rule tried on the last run (admin action) and a file's pre-flight."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.urls import reverse
from django.utils import timezone

from backend.pipelines.demo import create_demo_pipeline
from backend.pipelines.specs import import_spec_active
from backend.runs.models import PipelineRunLog, QualityRunLog
from backend.runs.preflight import WAREHOUSE_DOWN, file_preflight, quality_rule_try_on_last_run
from tests.backend.runs.conftest import HEADER, snapshot
from tests.factories import DataQualityRuleFactory, UserFactory

pytestmark = pytest.mark.django_db


def staged_run(url: str, run_id: str, rows: list[tuple], minutes_ago: int) -> None:
    """Rows a successful load left in staging, and its business log entry."""
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO staging.daily_sales VALUES (%s, '2024-01-02', %s, 'SKU-1', %s, 1.00, %s)",
            [(*row, run_id) for row in rows],
        )
    started = timezone.now() - timedelta(minutes=minutes_ago)
    PipelineRunLog.objects.create(
        dagster_run_id=run_id,
        pipeline_name="RetailSales",
        import_name="daily_sales",
        step=PipelineRunLog.Step.EXTRACT_LOAD,
        status=PipelineRunLog.Status.SUCCESS,
        target_table="staging.daily_sales",
        rows_read=len(rows),
        rows_loaded=len(rows),
        started_at=started,
        finished_at=started,
    )


@pytest.fixture
def admin_client(client, demo_tables, tmp_path):
    create_demo_pipeline(tmp_path / "incoming")
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def region_rule():
    return DataQualityRuleFactory(
        rule_name="known_region",
        target_table="staging.daily_sales",
        target_column="region",
        check_type="IS_IN_SET",
        check_expression='["North", "South", "East", "West"]',
        severity="FAIL",
        is_active=False,  # a rule can be tried before it is switched on
    )


def try_on_last_run(client, *rules) -> str:
    response = client.post(
        reverse("admin:pipelines_dataqualityrule_changelist"),
        {"action": "test_on_last_run", "_selected_action": [r.pk for r in rules]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def test_trying_a_rule_shows_the_failing_rows_of_the_latest_load_and_changes_nothing(
    admin_client, demo_tables, region_rule
):
    staged_run(demo_tables, "older-run", [(20, "Venus", 1)], minutes_ago=60)
    staged_run(demo_tables, "latest-run-id", [(1, "North", 1), (2, "Mars", 2), (3, "Pluto", 1)], minutes_ago=5)
    failed_load_at = timezone.now()
    PipelineRunLog.objects.create(
        dagster_run_id="failed-run",
        pipeline_name="RetailSales",
        import_name="daily_sales",
        step=PipelineRunLog.Step.EXTRACT_LOAD,
        status=PipelineRunLog.Status.FAILURE,
        target_table="staging.daily_sales",
        started_at=failed_load_at,
        finished_at=failed_load_at,
    )
    before = snapshot(demo_tables)

    page = try_on_last_run(admin_client, region_rule)

    assert "Tried on the last load of daily_sales (run latest-r): FAILED." in page
    assert "known_region: 2 of 3 rows fail" in page
    assert "(sale_id=2, region=Mars), (sale_id=3, region=Pluto)" in page
    assert "Venus" not in page
    assert "Nothing was changed." in page
    assert snapshot(demo_tables) == before
    assert QualityRunLog.objects.count() == 0


def test_a_passing_rule_says_so(admin_client, demo_tables, region_rule):
    staged_run(demo_tables, "good-run", [(1, "North", 1), (2, "South", 2)], minutes_ago=5)

    page = try_on_last_run(admin_client, region_rule)

    assert "Tried on the last load of daily_sales (run good-run): passed. known_region: all 2 rows pass" in page


def test_a_rule_with_no_load_yet_says_so(admin_client, region_rule):
    page = try_on_last_run(admin_client, region_rule)

    assert "Rule known_region was not tried: No run has loaded rows into staging.daily_sales yet." in page


def test_a_rule_that_cannot_run_gives_the_plain_reason(admin_client, demo_tables):
    staged_run(demo_tables, "good-run", [(1, "North", 1)], minutes_ago=5)
    rule = DataQualityRuleFactory(rule_name="ghost", target_table="staging.daily_sales", target_column="region")
    with psycopg.connect(demo_tables, autocommit=True) as conn:
        conn.execute("ALTER TABLE staging.daily_sales RENAME COLUMN region TO area")
    try:
        trial = quality_rule_try_on_last_run(rule)
    finally:
        with psycopg.connect(demo_tables, autocommit=True) as conn:
            conn.execute("ALTER TABLE staging.daily_sales RENAME COLUMN area TO region")

    assert trial.result is None and "region" in trial.error
    assert trial.summary.startswith("Rule ghost could not be tried on the last load of daily_sales (run good-run):")


def test_a_preflight_with_the_warehouse_down_says_so_plainly(demo_tables, tmp_path):
    create_demo_pipeline(tmp_path / "incoming")
    path = tmp_path / "day.csv"
    path.write_text(HEADER + "1,2024-01-02,North,SKU-1,2,10.00\n")

    report = file_preflight(import_spec_active("daily_sales"), path, warehouse_url="postgresql://nobody@127.0.0.1:9/x")

    assert report.error == WAREHOUSE_DOWN and not report.would_load
