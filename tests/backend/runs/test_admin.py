"""The read-only admin shows the file ledger and the phase durations of the business log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from backend.runs.models import PipelineRunLog
from tests.factories import LoadedFileFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_ledger_is_searchable_by_the_start_of_a_hash(admin_client):
    LoadedFileFactory(file_name="sales_2024-01-02.csv", sha256="ab12" + "0" * 60)
    LoadedFileFactory(file_name="sales_2024-01-03.csv", sha256="cd34" + "0" * 60)

    page = admin_client.get(reverse("admin:runs_loadedfile_changelist") + "?q=ab12").content.decode()

    assert "sales_2024-01-02.csv" in page and "sales_2024-01-03.csv" not in page


def test_the_ledger_cannot_be_edited_or_added_to(admin_client):
    entry = LoadedFileFactory()
    assert admin_client.get(reverse("admin:runs_loadedfile_add")).status_code == 403
    response = admin_client.post(reverse("admin:runs_loadedfile_change", args=[entry.pk]), {"rows": "999"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.rows == 3


def test_the_run_log_list_shows_seconds_per_phase(admin_client):
    when = datetime(2024, 1, 1, tzinfo=UTC)
    PipelineRunLog.objects.create(
        dagster_run_id="r1",
        pipeline_name="Sales",
        step="extract_load",
        status="SUCCESS",
        started_at=when,
        finished_at=when,
        phase_durations={"load": 3.3, "parse": 1.0},
    )
    page = admin_client.get(reverse("admin:runs_pipelinerunlog_changelist")).content.decode()
    assert "parse 1.0 s · load 3.3 s" in page
