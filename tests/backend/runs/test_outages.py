"""Outages are told plainly and lose nothing: Redis down on launch; the orchestrator down on the dashboard."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from backend.celery import app
from backend.runs import services
from backend.runs.models import ImportRun
from tests.factories import PipelineConfigFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down():
    """Point Celery at a closed port, the way a stopped Redis looks to it."""
    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.broker_url = previous
    app._pool = None
    app.amqp._producer_pool = None


def test_running_an_import_with_redis_down_says_so_and_keeps_the_run(client, redis_down):
    PipelineConfigFactory(pipeline_name="Sales", import_name="orders")
    client.force_login(UserFactory(is_staff=True))

    started = time.monotonic()
    response = client.post(reverse("runs:launch"), {"imports": ["orders"]}, follow=True)

    assert time.monotonic() - started < 20
    assert services.QueueUnavailable.message in response.content.decode()
    run = ImportRun.objects.get()
    assert (run.status, run.import_names, run.dagster_run_id) == ("QUEUED", ["orders"], "")


def test_the_dashboard_shows_when_the_orchestrator_is_unavailable(client):
    PipelineConfigFactory(pipeline_name="Sales", import_name="orders")
    client.force_login(UserFactory(is_staff=True))
    services.orchestrator_status_record(False, "The orchestrator (Dagster) cannot be reached right now.")
    try:
        page = client.get(reverse("runs:dashboard")).content.decode()
        assert 'id="orchestrator-banner" class="banner error" role="alert">' in page
        assert "The orchestrator (Dagster) cannot be reached right now." in page
        assert client.get(reverse("runs:status")).json()["orchestrator"]["available"] is False
    finally:
        services.orchestrator_status_record(True)
    page = client.get(reverse("runs:dashboard")).content.decode()
    assert 'role="alert" hidden' in page
