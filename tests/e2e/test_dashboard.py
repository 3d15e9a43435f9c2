"""The dashboard in a real browser: Chromium drives Django, a Celery worker, Redis and a live Dagster stack."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from backend.pipelines.demo import create_demo_rules, create_demo_warehouse
from backend.pipelines.models import PipelinePermission
from backend.runs.models import ImportRun
from tests.e2e.conftest import make_demo_import
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct-horse-battery"
HEADER = "sale_id,sale_date,region,product_sku,quantity,amount\n"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's Chromium (Playwright's own browser download is not used)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests.")
        pytest.skip(f"{CHROMIUM} is not installed")
    args = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": args}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1200, "height": 900}}


@pytest.fixture
def two_imports(dagster_stack, dagster_client, tmp_path) -> tuple[Path, Path]:
    """Two imports of the demo pipeline, each with a folder, loaded into the running code location."""
    create_demo_warehouse(dagster_stack.warehouse_url)
    north, south = tmp_path / "north", tmp_path / "south"
    make_demo_import("north_sales", north)
    make_demo_import("south_sales", south)
    PipelinePermission.objects.create(
        group=Group.objects.get(name="Operator"), pipeline_name="RetailSales", can_run=True
    )
    PipelinePermission.objects.create(group=Group.objects.get(name="Viewer"), pipeline_name="RetailSales")
    result = dagster_client.reload_location()
    assert result.ok, result.error
    return north, south


def _user(name: str, role: str | None = None):
    user = UserFactory(username=name)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def _login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _status_cell(page, run: ImportRun):
    return page.locator(f'tr[data-run-id="{run.pk}"] .c-status')


def _run_two(page, live_server) -> dict[str, ImportRun]:
    _login(page, live_server, "op")
    button = page.get_by_role("button", name="Run selected imports")
    expect(button).to_be_disabled()
    page.get_by_label("north_sales").check()
    page.get_by_label("south_sales").check()
    expect(button).to_be_enabled()
    button.click()
    page.get_by_text("Started 2 imports.").wait_for()
    return {run.import_names[0]: run for run in ImportRun.objects.all()}


def test_an_operator_runs_two_imports_and_sees_both_succeed(page, live_server, two_imports, celery_worker):
    north, south = two_imports
    shutil.copy(ROOT / "demo" / "sales_2024-01-01.csv", north)
    shutil.copy(ROOT / "demo" / "sales_2024-01-02.csv", south)
    _user("op", "Operator")

    runs = _run_two(page, live_server)

    for name in ("north_sales", "south_sales"):
        cell = _status_cell(page, runs[name])
        cell.get_by_text("Succeeded").wait_for(timeout=120000)
    row = page.locator(f'tr[data-run-id="{runs["north_sales"].pk}"]')
    assert row.locator(".c-rows").inner_text() == "24"
    row.get_by_role("link", name="(details)").click()
    page.get_by_role("heading", name="Steps and log").wait_for()
    assert "north_sales_extract_and_load_staging" in page.content()
    assert "version 1" in page.content()


def test_a_malformed_file_fails_alone_with_a_readable_message(page, live_server, two_imports, celery_worker):
    north, south = two_imports
    shutil.copy(ROOT / "demo" / "sales_2024-01-03.csv", north)
    (south / "sales_2024-02-01.csv").write_text(HEADER + "9001,2024-02-01,South,SKU-1001,lots,9.99\n")
    _user("op", "Operator")

    runs = _run_two(page, live_server)

    _status_cell(page, runs["south_sales"]).get_by_text("Failed").wait_for(timeout=120000)
    _status_cell(page, runs["north_sales"]).get_by_text("Succeeded").wait_for(timeout=120000)
    message = page.locator(f'tr[data-run-id="{runs["south_sales"].pk}"] .c-error').inner_text()
    assert "sales_2024-02-01.csv" in message and "quantity" in message and "row 1" in message
    assert "Traceback" not in message


def test_a_viewer_sees_the_imports_but_no_run_button(page, live_server, tmp_path):
    make_demo_import("daily_sales", tmp_path / "in")
    PipelinePermission.objects.create(group=Group.objects.get(name="Viewer"), pipeline_name="RetailSales")
    _user("vi", "Viewer")

    _login(page, live_server, "vi")

    page.get_by_text("daily_sales").wait_for()
    assert page.get_by_role("button", name="Run selected imports").count() == 0
    assert page.locator("input.import-box").count() == 0


def test_a_user_without_grants_sees_nothing_and_gets_404_on_a_run(page, live_server, tmp_path):
    make_demo_import("daily_sales", tmp_path / "in")
    run = ImportRun.objects.create(pipeline_name="RetailSales", import_names=["daily_sales"])
    _user("nobody")

    _login(page, live_server, "nobody")

    page.get_by_text("No imports are shared with you yet.").wait_for()
    assert "daily_sales" not in page.content()
    response = page.goto(f"{live_server.url}/runs/{run.pk}/")
    assert response.status == 404


def test_the_dashboard_is_usable_with_the_keyboard(page, live_server, tmp_path):
    make_demo_import("daily_sales", tmp_path / "in")
    PipelinePermission.objects.create(
        group=Group.objects.get(name="Operator"), pipeline_name="RetailSales", can_run=True
    )
    _user("op", "Operator")
    _login(page, live_server, "op")
    button = page.get_by_role("button", name="Run selected imports")
    expect(button).to_be_disabled()
    box = page.get_by_label("daily_sales")
    box.focus()
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    expect(button).to_be_enabled()
    expect(page.locator("#selection-hint")).to_have_text("1 selected.")
    assert ImportRun.objects.count() == 0


def test_an_operator_checks_a_file_before_loading_it_and_nothing_changes(
    page, live_server, tmp_path, settings, warehouse_url
):
    settings.WAREHOUSE_URL = warehouse_url
    create_demo_warehouse(warehouse_url)
    make_demo_import("daily_sales", tmp_path / "in")
    create_demo_rules()
    PipelinePermission.objects.create(
        group=Group.objects.get(name="Operator"), pipeline_name="RetailSales", can_run=True
    )
    _user("op", "Operator")
    bad = tmp_path / "sales_2024-03-01.csv"
    bad.write_text(HEADER + "8001,2024-03-01,North,SKU-1,2,-4.00\n8002,2024-03-01,South,SKU-2,1,3.00\n")
    with psycopg.connect(warehouse_url) as conn:
        before = conn.execute(
            "SELECT (SELECT count(*) FROM staging.daily_sales), (SELECT count(*) FROM dw.sales)"
        ).fetchone()

    _login(page, live_server, "op")
    page.get_by_role("link", name="Check a file").click()
    page.get_by_label("Import").select_option("daily_sales")
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()

    verdict = page.locator("#check-verdict")
    expect(verdict).to_contain_text("Would be stopped")
    expect(verdict).to_contain_text("sales_amount_not_negative")
    expect(page.locator("#check-report")).to_contain_text("Nothing was changed")
    assert "8001" in page.content()
    with psycopg.connect(warehouse_url) as conn:
        after = conn.execute(
            "SELECT (SELECT count(*) FROM staging.daily_sales), (SELECT count(*) FROM dw.sales)"
        ).fetchone()
    assert after == before
