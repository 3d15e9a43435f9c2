"""Generated requests against every operation of the OpenAPI schema: no 5xx, no response outside the schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from backend.runs.models import ImportRun
from tests.factories import DataQualityRuleFactory, PipelineConfigFactory, UserFactory


def _schema():
    from backend.wsgi import application  # Django is set up by pytest-django before collection

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


schema = _schema()


@pytest.fixture
def in_test_transaction():
    """Requests go straight to Django's WSGI handler: keep its per-request connection clean-up off, as Django's
    own test client does, so the test's transaction stays open (and is rolled back at the end)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(db, in_test_transaction, settings, monkeypatch) -> str:
    """An administrator's token, some rows to find, and no rate limit in the way of generated traffic."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr("rest_framework.throttling.SimpleRateThrottle.THROTTLE_RATES", {"anon": None, "user": None})
    admin = UserFactory(username="api-admin", is_staff=True)
    admin.groups.add(Group.objects.get(name="Admin"))
    PipelineConfigFactory(pipeline_name="Sales", import_name="daily_sales", staging_table="staging.api_sales")
    DataQualityRuleFactory(rule_name="sales_id_present", target_table="staging.api_sales")
    ImportRun.objects.create(pipeline_name="Sales", import_names=["daily_sales"], status="SUCCESS")
    return Token.objects.create(user=admin).key


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_request_gets_a_server_error_or_a_response_outside_the_schema(case, admin_token, monkeypatch):
    # launching reaches the run queue; what is checked here is the API's answer, not the queue
    monkeypatch.setattr("backend.runs.services.enqueue_launch", lambda run_ids: None)
    case.call_and_validate(
        headers={"Authorization": f"Token {admin_token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
