"""The dashboard pages and the status endpoint, with permissions checked on every object."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from backend.runs.models import ImportRun, PipelineRunLog, QualityRunLog
from tests.factories import LoadedFileFactory, PipelineConfigFactory, PipelinePermissionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup_sales():
    PipelineConfigFactory(pipeline_name="Sales", import_name="orders", description="Orders from the shop")
    PipelineConfigFactory(pipeline_name="Stock", import_name="stock_levels")
    operator = UserFactory(username="op")
    operator.groups.add(Group.objects.get(name="Operator"))
    PipelinePermissionFactory(group=Group.objects.get(name="Operator"), pipeline_name="Sales", can_run=True)
    viewer = UserFactory(username="vi")
    viewer.groups.add(Group.objects.get(name="Viewer"))
    PipelinePermissionFactory(group=Group.objects.get(name="Viewer"), pipeline_name="Sales", can_run=False)
    return operator, viewer


def test_the_dashboard_needs_a_login(client):
    response = client.get(reverse("runs:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_operator_sees_their_imports_with_checkboxes_and_the_run_button(client, setup_sales):
    client.force_login(setup_sales[0])
    page = client.get(reverse("runs:dashboard")).content.decode()
    assert 'value="orders"' in page and "Orders from the shop" in page
    assert "stock_levels" not in page
    assert 'id="run-selected" disabled' in page


def test_a_viewer_sees_imports_but_no_checkbox_or_run_button(client, setup_sales):
    client.force_login(setup_sales[1])
    page = client.get(reverse("runs:dashboard")).content.decode()
    assert "orders" in page and "(view only)" in page
    assert 'name="imports"' not in page and "run-selected" not in page


def test_a_viewer_cannot_launch_by_posting(client, setup_sales):
    client.force_login(setup_sales[1])
    response = client.post(reverse("runs:launch"), {"imports": ["orders"]}, follow=True)
    assert "You may look at but not run: orders." in response.content.decode()
    assert ImportRun.objects.count() == 0


def test_a_user_without_grants_sees_no_imports_and_404s_on_others_runs(client, setup_sales):
    stranger = UserFactory(username="nobody")
    run = ImportRun.objects.create(pipeline_name="Sales", import_names=["orders"])
    client.force_login(stranger)
    page = client.get(reverse("runs:dashboard")).content.decode()
    assert "No imports are shared with you yet." in page
    assert client.get(reverse("runs:detail", args=[run.pk])).status_code == 404
    assert client.post(reverse("runs:cancel", args=[run.pk])).status_code == 404
    assert client.get(reverse("runs:status") + f"?ids={run.pk}").json()["runs"] == []
    response = client.post(reverse("runs:launch"), {"imports": ["orders"]})
    assert response.status_code == 404
    assert ImportRun.objects.count() == 1


def test_launching_queues_one_run_per_import_in_order_with_config_versions(client, setup_sales):
    PipelineConfigFactory(pipeline_name="Sales", import_name="refunds")
    client.force_login(setup_sales[0])
    response = client.post(reverse("runs:launch"), {"imports": ["refunds", "orders"]}, follow=True)
    assert "Started 2 imports." in response.content.decode()
    runs = list(ImportRun.objects.order_by("position"))
    assert [(r.import_names, r.position, r.status, r.requested_by.username) for r in runs] == [
        (["refunds"], 0, "QUEUED", "op"),
        (["orders"], 1, "QUEUED", "op"),
    ]
    assert runs[0].config_versions == {"refunds": 1}
    assert runs[0].batch_id == runs[1].batch_id


def test_status_json_reports_visible_runs(client, setup_sales):
    client.force_login(setup_sales[0])
    run = ImportRun.objects.create(
        pipeline_name="Sales", import_names=["orders"], status="FAILURE", error_summary="a.csv: bad value in data row 3"
    )
    data = client.get(reverse("runs:status") + f"?ids={run.pk},abc").json()
    assert data["runs"][0]["status"] == "FAILURE"
    assert data["runs"][0]["error"] == "a.csv: bad value in data row 3"
    assert data["runs"][0]["detail_url"] == reverse("runs:detail", args=[run.pk])


def test_history_filters_by_status(client, setup_sales):
    client.force_login(setup_sales[0])
    ImportRun.objects.create(pipeline_name="Sales", import_names=["orders"], status="SUCCESS")
    ImportRun.objects.create(pipeline_name="Sales", import_names=["orders"], status="FAILURE", error_summary="boom")
    page = client.get(reverse("runs:history") + "?status=FAILURE").content.decode()
    assert "boom" in page
    assert page.count("status-success") == 0


def test_the_run_page_links_each_config_version_to_its_change_history_for_staff(client, setup_sales):
    from backend.pipelines.models import PipelineConfig

    config = PipelineConfig.objects.get(import_name="orders")
    run = ImportRun.objects.create(pipeline_name="Sales", import_names=["orders"], config_versions={"orders": 1})
    client.force_login(UserFactory(username="boss", is_staff=True))
    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    history = reverse("admin:pipelines_pipelineconfig_history", args=[config.pk])
    assert f'<a href="{history}">version 1</a>' in page
    assert "The run has not reached the orchestrator yet." in page
    client.force_login(setup_sales[0])
    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert "orders: version 1" in page and history not in page


def test_the_run_page_lists_the_files_the_run_took_and_skipped(client, setup_sales, settings):
    settings.DAGSTER_GRAPHQL_URL = "http://127.0.0.1:9/graphql"
    run = ImportRun.objects.create(
        pipeline_name="Sales", import_names=["orders"], dagster_run_id="abc-123", status="SUCCESS"
    )
    LoadedFileFactory(
        import_name="orders", file_name="orders_1.csv", size_bytes=2048, rows=24, dagster_run_id="abc-123"
    )
    LoadedFileFactory(
        import_name="orders",
        file_name="orders_0.csv",
        status="SKIPPED",
        rows=None,
        dagster_run_id="abc-123",
        message="orders_0.csv was already loaded on 2024-01-03 10:15 UTC by run 1a2b3c4d (24 rows); skipped.",
    )
    LoadedFileFactory(import_name="orders", file_name="someone_elses.csv", dagster_run_id="other-run")
    client.force_login(setup_sales[1])

    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()

    files = page.split('id="run-files"')[1].split("</table>")[0]
    assert files.index("orders_1.csv") < files.index("orders_0.csv")
    assert "2.0\xa0KB" in files and ">24<" in files and "Loaded" in files
    assert "Skipped" in files and "already loaded on 2024-01-03 10:15 UTC by run 1a2b3c4d (24 rows)" in files
    assert "someone_elses.csv" not in page


def test_the_run_page_says_when_no_files_were_recorded(client, setup_sales):
    run = ImportRun.objects.create(pipeline_name="Sales", import_names=["orders"])
    client.force_login(setup_sales[0])
    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert "No files recorded for this run yet." in page


def test_the_run_page_shows_the_business_log_with_counts_phases_and_what_to_do(client, setup_sales):
    run = ImportRun.objects.create(
        pipeline_name="Sales", import_names=["orders"], dagster_run_id="abc-123", status="FAILURE"
    )
    now = timezone.now()
    PipelineRunLog.objects.create(
        dagster_run_id="abc-123",
        pipeline_name="Sales",
        import_name="orders",
        step="extract_load",
        status="FAILURE",
        target_table="staging.orders",
        rows_read=10,
        started_at=now,
        finished_at=now,
        duration_seconds=1.25,
        phase_durations={"parse": 0.5, "load": 0.75},
        error_message='orders.csv: invalid input syntax for type integer: "two" in data row 3, column qty.',
        resolution_hint="Fix the value in the file and run the import again.",
    )
    PipelineRunLog.objects.create(
        dagster_run_id="other",
        pipeline_name="Sales",
        step="transform",
        status="SUCCESS",
        started_at=now,
        finished_at=now,
    )
    client.force_login(setup_sales[0])

    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()

    log = page.split('id="run-log"')[1].split("</table>")[0]
    assert "Extract and load to staging" in log and "staging.orders" in log and ">10<" in log
    assert "parse 0.5 s · load 0.8 s" in log
    assert "data row 3, column qty." in log
    assert "What to do:</strong> Fix the value in the file" in log
    assert "Transform to destination" not in log


def test_the_run_page_lists_quality_results_failures_first(client, setup_sales):
    run = ImportRun.objects.create(
        pipeline_name="Sales", import_names=["orders"], dagster_run_id="abc-123", status="FAILURE"
    )
    for name, outcome, failing in (("a_passes", "PASS", 0), ("b_fails", "FAIL", 3), ("c_warns", "WARN", 1)):
        QualityRunLog.objects.create(
            dagster_run_id="abc-123",
            rule_name=name,
            target_table="staging.orders",
            check_type="RANGE",
            severity="FAIL",
            rows_checked=10,
            failing_rows=failing,
            outcome=outcome,
            detail=f"{name}: {failing} of 10 rows fail.",
        )
    QualityRunLog.objects.create(
        dagster_run_id="other", rule_name="elsewhere", target_table="t", outcome="FAIL", failing_rows=1
    )
    client.force_login(setup_sales[0])

    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()

    table = page.split('id="run-quality"')[1].split("</table>")[0]
    assert table.index("b_fails") < table.index("c_warns") < table.index("a_passes")
    assert "b_fails: 3 of 10 rows fail." in table
    assert "elsewhere" not in table
