"""The dashboard's "Check a file" page: the real load path rolled back, for people who may run the import."""

from __future__ import annotations

import tempfile

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from backend.pipelines.demo import create_demo_pipeline
from backend.pipelines.models import PipelineConfig
from backend.runs.models import ImportRun, PipelineRunLog, QualityRunLog
from tests.backend.runs.conftest import HEADER, snapshot
from tests.factories import (
    PipelineConfigFactory,
    PipelinePermissionFactory,
    UserFactory,
    demo_region_and_quantity_rules,
)

pytestmark = pytest.mark.django_db

BAD_ROWS = HEADER + (
    "1,2024-01-02,North,SKU-1,2,10.00\n2,2024-01-02,Mars,SKU-2,1,5.00\n2,2024-01-02,South,SKU-3,0,-4.00\n"
)


@pytest.fixture
def people(demo_tables, tmp_path):
    """The demo import with two rules; an operator (runs RetailSales, only views Stock), a viewer, a stranger."""
    create_demo_pipeline(tmp_path / "incoming")
    PipelineConfigFactory(pipeline_name="Stock", import_name="stock_levels")
    PipelineConfigFactory(pipeline_name="Secret", import_name="salaries")
    demo_region_and_quantity_rules()
    operator = UserFactory(username="op")
    operator.groups.add(Group.objects.get(name="Operator"))
    PipelinePermissionFactory(user=operator, pipeline_name="Stock", can_run=False)
    viewer = UserFactory(username="vi")
    viewer.groups.add(Group.objects.get(name="Viewer"))
    return {"operator": operator, "viewer": viewer, "stranger": UserFactory(username="nobody")}


def upload(text: str, name: str = "sales_2024-01-02.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def check(client, import_name: str, text: str, **extra):
    return client.post(reverse("runs:check_file"), {"import_name": import_name, "file": upload(text), **extra})


def test_an_operator_picks_from_the_imports_they_may_run(client, people):
    client.force_login(people["operator"])

    page = client.get(reverse("runs:check_file")).content.decode()

    assert '<option value="daily_sales"' in page
    assert "stock_levels" not in page and "salaries" not in page


def test_the_dashboard_links_the_check_for_operators_only(client, people):
    client.force_login(people["operator"])
    assert reverse("runs:check_file") in client.get(reverse("runs:dashboard")).content.decode()
    client.force_login(people["viewer"])
    assert reverse("runs:check_file") not in client.get(reverse("runs:dashboard")).content.decode()


def test_a_file_with_bad_rows_shows_every_outcome_and_changes_nothing(client, people, demo_tables):
    before = snapshot(demo_tables)
    client.force_login(people["operator"])

    response = check(client, "daily_sales", BAD_ROWS)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Would be stopped" in page and "stopped by: known_region." in page
    assert "3 rows read" in page
    assert "<td>Region Name</td>" not in page and "<td>region</td><td>region</td>" in page
    assert "Left to their defaults: loaded_at." in page
    assert "<td>Mars</td>" in page  # the preview
    assert "known_region: 1 of 3 rows fail" in page
    assert "sale_id=2, region=Mars" in page  # the failing row
    assert "quantity_positive: 1 of 3 rows fail" in page and 'class="status status-warn">Warning' in page
    assert "Nothing was changed" in page
    assert snapshot(demo_tables) == before
    assert (ImportRun.objects.count(), PipelineRunLog.objects.count(), QualityRunLog.objects.count()) == (0, 0, 0)


def test_a_clean_file_would_load(client, people, demo_tables):
    client.force_login(people["operator"])

    page = check(client, "daily_sales", HEADER + "1,2024-01-02,North,SKU-1,2,10.00\n").content.decode()

    assert "Would load" in page and "1 row read" in page
    assert page.count('class="status status-pass">Passed') == 2


def test_a_file_that_cannot_load_shows_the_plain_error_and_what_to_do(client, people, demo_tables):
    before = snapshot(demo_tables)
    client.force_login(people["operator"])

    page = check(client, "daily_sales", HEADER + "1,2024-01-02,North,SKU-1,two,10.00\n").content.decode()

    assert "sales_2024-01-02.csv: invalid input syntax for type integer" in page
    assert "data row 1, column quantity" in page
    assert "<strong>What to do:</strong>" in page
    assert "Traceback" not in page
    assert snapshot(demo_tables) == before


def test_the_uploaded_file_is_deleted_afterwards(client, people, monkeypatch, tmp_path):
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    client.force_login(people["operator"])

    assert check(client, "daily_sales", BAD_ROWS).status_code == 200

    assert list(private.iterdir()) == []


def test_a_file_over_the_size_limit_is_refused_before_checking(client, people, settings):
    settings.LAUNCHPAD_PREFLIGHT_MAX_MB = 0
    client.force_login(people["operator"])

    response = check(client, "daily_sales", BAD_ROWS)

    assert response.status_code == 400
    assert "The file is larger than 0 MB" in response.content.decode()
    assert "check-report" not in response.content.decode()


def test_a_missing_file_is_asked_for(client, people):
    client.force_login(people["operator"])

    response = client.post(reverse("runs:check_file"), {"import_name": "daily_sales"})

    assert response.status_code == 400
    assert "Choose a file to check." in response.content.decode()


def test_viewers_and_strangers_are_refused(client, people):
    for who in ("viewer", "stranger"):
        client.force_login(people[who])
        assert client.get(reverse("runs:check_file")).status_code == 403
        assert check(client, "daily_sales", BAD_ROWS).status_code == 403


def test_an_operator_gets_403_for_a_view_only_import_and_404_for_a_hidden_one(client, people):
    client.force_login(people["operator"])

    assert check(client, "stock_levels", BAD_ROWS).status_code == 403
    assert check(client, "salaries", BAD_ROWS).status_code == 404
    assert check(client, "no_such_import", BAD_ROWS).status_code == 404


def test_the_page_needs_a_login(client, people):
    response = client.get(reverse("runs:check_file"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_admin_action_opens_the_check_with_the_import_chosen(client, people):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    config = PipelineConfig.objects.get(import_name="daily_sales")

    response = client.post(
        reverse("admin:pipelines_pipelineconfig_changelist"),
        {"action": "check_a_file", "_selected_action": [config.pk]},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("runs:check_file") + "?import=daily_sales"
    page = client.get(response["Location"]).content.decode()
    assert '<option value="daily_sales" selected>' in page
