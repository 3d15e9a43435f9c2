"""The REST API: who may do what on every endpoint, CSRF and tokens, one error shape, no secrets out."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backend.pipelines.models import AnalyticsConfig, DataQualityRule, PipelineConfig, PipelinePermission
from backend.runs.models import ImportRun, PipelineRunLog, QualityRunLog
from tests.factories import (
    DataEnrichmentRuleFactory,
    DataQualityRuleFactory,
    PipelineConfigFactory,
    PipelinePermissionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

WEBHOOK = "https://hooks.example.com/services/T000/B000/very-secret-token"
USERS = ("anonymous", "viewer", "operator", "steward", "admin", "other")


@pytest.fixture(autouse=True)
def _quick_passwords(settings):
    """Users are made by the dozen here: a fast hasher (these clients never log in with a password)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def csrf_client(user=None) -> APIClient:
    """A client as a browser behaves: CSRF checks on, the CSRF cookie sent back as the header on writes."""
    client = APIClient(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    client.get("/login/")  # sets the csrftoken cookie
    client.credentials(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    return client


def role_user(username: str, role: str, *, staff: bool = False):
    user = UserFactory(username=username, is_staff=staff)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def world():
    """Pipelines Sales and Finance, a rule and a run on each; one user per role (grants on Sales only)."""
    PipelineConfigFactory(pipeline_name="Sales", import_name="daily_sales", staging_table="staging.api_sales")
    PipelineConfigFactory(pipeline_name="Finance", import_name="ledger", staging_table="staging.api_ledger")
    DataQualityRuleFactory(rule_name="sales_id_present", target_table="staging.api_sales")
    DataQualityRuleFactory(rule_name="ledger_id_present", target_table="staging.api_ledger")
    DataEnrichmentRuleFactory(rule_name="sales_category", target_staging_table="staging.api_sales")
    AnalyticsConfig.objects.create(
        target_table="dw.fact_sales",
        date_column="sale_date",
        value_column="amount",
        model_type="anomaly_detection",
        alert_webhook_url=WEBHOOK,
    )
    users = {
        "viewer": role_user("vi", "Viewer"),
        "operator": role_user("op", "Operator"),
        "steward": role_user("st", "Steward"),
        "admin": role_user("ad", "Admin", staff=True),
        "other": UserFactory(username="ot"),  # no role: a grant on Finance only
    }
    for role, can_run in (("Viewer", False), ("Operator", False), ("Steward", False)):
        PipelinePermissionFactory(group=Group.objects.get(name=role), pipeline_name="Sales", can_run=can_run)
    PipelinePermissionFactory(user=users["operator"], pipeline_name="Sales", can_run=True)
    PipelinePermissionFactory(user=users["other"], pipeline_name="Finance", can_run=True)
    runs = {}
    for pipeline, name in (("Sales", "daily_sales"), ("Finance", "ledger")):
        runs[name] = ImportRun.objects.create(
            pipeline_name=pipeline, import_names=[name], status="SUCCESS", dagster_run_id=f"run-{name}"
        )
        now = timezone.now()
        PipelineRunLog.objects.create(
            dagster_run_id=f"run-{name}",
            pipeline_name=pipeline,
            import_name=name,
            step="extract_load",
            status="SUCCESS",
            started_at=now,
            finished_at=now,
        )
        QualityRunLog.objects.create(
            dagster_run_id=f"run-{name}",
            rule_name=f"{name}_rule",
            import_name=name,
            target_table=f"staging.{name}",
            outcome="PASS",
        )
    return users, runs


def client_for(world, who: str) -> APIClient:
    users, _ = world
    return csrf_client(None if who == "anonymous" else users[who])


def names(response) -> list[str]:
    rows = response.json()["results"]
    key = next(k for k in ("import_name", "rule_name", "import_names", "pipeline_name") if k in rows[0]) if rows else ""
    return sorted(str(row[key]) for row in rows)


# ----------------------------------------------------------------------------------------- the matrix

# endpoint -> (what each user sees in the list: None = refused with that status)
LISTS = {
    "/api/pipelines/": {
        "anonymous": 401, "viewer": ["daily_sales"], "operator": ["daily_sales"], "steward": ["daily_sales"],
        "admin": ["daily_sales", "ledger"], "other": ["ledger"],
    },
    "/api/quality-rules/": {
        "anonymous": 401, "viewer": ["sales_id_present"], "operator": ["sales_id_present"],
        "steward": ["sales_id_present"], "admin": ["ledger_id_present", "sales_id_present"],
        "other": ["ledger_id_present"],
    },
    "/api/enrichment-rules/": {
        "anonymous": 401, "viewer": ["sales_category"], "operator": ["sales_category"], "steward": ["sales_category"],
        "admin": ["sales_category"], "other": [],
    },
    "/api/runs/": {
        "anonymous": 401, "viewer": ["['daily_sales']"], "operator": ["['daily_sales']"],
        "steward": ["['daily_sales']"], "admin": ["['daily_sales']", "['ledger']"], "other": ["['ledger']"],
    },
    "/api/run-logs/": {
        "anonymous": 401, "viewer": ["daily_sales"], "operator": ["daily_sales"], "steward": ["daily_sales"],
        "admin": ["daily_sales", "ledger"], "other": ["ledger"],
    },
    "/api/quality-logs/": {
        "anonymous": 401, "viewer": ["daily_sales_rule"], "operator": ["daily_sales_rule"],
        "steward": ["daily_sales_rule"], "admin": ["daily_sales_rule", "ledger_rule"], "other": ["ledger_rule"],
    },
    "/api/analytics-configs/": {
        "anonymous": 401, "viewer": 200, "operator": 200, "steward": 200, "admin": 200, "other": 403,  # no role
    },
    "/api/permissions/": {
        "anonymous": 401, "viewer": 403, "operator": 403, "steward": 403, "admin": 200, "other": 403,
    },
}  # fmt: skip


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize("endpoint", list(LISTS))
def test_every_list_shows_each_user_only_what_their_grants_allow(world, endpoint, who):
    expected = LISTS[endpoint][who]
    response = client_for(world, who).get(endpoint)

    if isinstance(expected, int):
        assert response.status_code == expected, response.content
        if expected >= 400:
            assert response.json()["error"]["status"] == expected
        return
    assert response.status_code == 200, response.content
    if endpoint.endswith("-logs/"):
        rows = response.json()["results"]
        key = "import_name" if endpoint == "/api/run-logs/" else "rule_name"
        assert sorted(row[key] for row in rows) == expected
    else:
        assert names(response) == expected


# object URL of each kind, in Sales and in Finance
OBJECTS = {
    "pipeline": ("/api/pipelines/daily_sales/", "/api/pipelines/ledger/"),
    "quality rule": ("/api/quality-rules/sales_id_present/", "/api/quality-rules/ledger_id_present/"),
}


@pytest.mark.parametrize("who", USERS)
def test_each_kind_of_object_can_be_read_by_who_may_list_it(world, who):
    client = client_for(world, who)
    _, runs = world
    log = PipelineRunLog.objects.get(import_name="daily_sales").pk
    quality = QualityRunLog.objects.get(import_name="daily_sales").pk
    analytics = AnalyticsConfig.objects.get().pk
    grant = PipelinePermission.objects.filter(group__name="Viewer").first().pk
    expected = {
        "/api/enrichment-rules/sales_category/": 200,
        f"/api/run-logs/{log}/": 200,
        f"/api/quality-logs/{quality}/": 200,
        f"/api/analytics-configs/{analytics}/": 200,
        f"/api/permissions/{grant}/": 200 if who == "admin" else 403,
        "/api/code-location/": 200,
    }
    for url, status in expected.items():
        if who == "anonymous":
            status = 401
        elif who == "other" and (url.startswith(("/api/enrichment", "/api/run-logs", "/api/quality-logs"))):
            status = 404  # Sales only
        elif who == "other" and url.startswith("/api/analytics"):
            status = 403  # no role
        assert client.get(url).status_code == status, (url, who)


@pytest.mark.parametrize("who", USERS)
def test_objects_outside_the_users_grants_are_not_found_rather_than_forbidden(world, who):
    client = client_for(world, who)
    _, runs = world
    sales_run, finance_run = f"/api/runs/{runs['daily_sales'].pk}/", f"/api/runs/{runs['ledger'].pk}/"
    visible = {"anonymous": set(), "admin": {"sales", "finance"}, "other": {"finance"}}.get(who, {"sales"})
    for sales_url, finance_url in [*OBJECTS.values(), (sales_run, finance_run)]:
        for url, pipeline in ((sales_url, "sales"), (finance_url, "finance")):
            status = client.get(url).status_code
            expected = 401 if who == "anonymous" else 200 if pipeline in visible else 404
            assert status == expected, (url, who, status)


# (method, url, body) -> the status for each user. Without the role's model permission a write is 403 whether
# or not the object exists (nothing to probe); with it, an object outside the user's grants is 404.
RULE_BODY = {
    "rule_name": "sales_amount_ok",
    "target_table": "staging.api_sales",
    "target_column": "amount",
    "check_type": "RANGE",
    "check_expression": '{"min": 0}',
    "severity": "WARN",
}
CONFIG_BODY = {
    "pipeline_name": "Sales",
    "import_name": "refunds",
    "file_pattern": "refunds_*.csv",
    "monitored_directory": "/data/incoming/refunds",
    "file_type": "csv",
    "staging_table": "staging.refunds",
    "destination_table": "dw.refunds",
    "load_method": "append",
}
WRITES = [
    ("post", "/api/quality-rules/", RULE_BODY,
     {"steward": 201, "admin": 201, "viewer": 403, "operator": 403, "other": 403}),
    ("patch", "/api/quality-rules/sales_id_present/", {"severity": "WARN"},
     {"steward": 200, "admin": 200, "viewer": 403, "operator": 403, "other": 403}),
    ("post", "/api/pipelines/", CONFIG_BODY,
     {"admin": 201, "steward": 403, "viewer": 403, "operator": 403, "other": 403}),
    ("patch", "/api/pipelines/daily_sales/", {"description": "Nightly sales"},
     {"admin": 200, "steward": 403, "viewer": 403, "operator": 403, "other": 403}),
    ("delete", "/api/quality-rules/sales_id_present/", None,
     {"admin": 204, "steward": 403, "viewer": 403, "operator": 403, "other": 403}),
    ("post", "/api/permissions/", {"group": "Viewer", "pipeline_name": "Finance", "can_run": False},
     {"admin": 201, "steward": 403, "viewer": 403, "operator": 403, "other": 403}),
    ("post", "/api/runs/", {"imports": ["daily_sales"]},
     {"operator": 201, "admin": 201, "viewer": 403, "steward": 403, "other": 404}),
    ("post", "/api/enrichment-rules/", {
        "rule_name": "sales_region", "target_staging_table": "staging.api_sales",
        "target_column_to_enrich": "region", "lookup_table": "dw.stores", "lookup_key_column_staging": "store_id",
        "lookup_key_column_lookup": "store_id", "lookup_value_column": "region"},
     {"steward": 201, "admin": 201, "viewer": 403, "operator": 403, "other": 403}),
    ("patch", "/api/enrichment-rules/sales_category/", {"is_active": False},
     {"steward": 200, "admin": 200, "viewer": 403, "operator": 403, "other": 403}),
    ("post", "/api/analytics-configs/", {
        "target_table": "dw.fact_sales", "date_column": "sale_date", "value_column": "quantity",
        "model_type": "forecast"},
     {"admin": 201, "steward": 403, "viewer": 403, "operator": 403, "other": 403}),
    ("delete", "/api/pipelines/ledger/", None,
     {"admin": 409, "steward": 403, "viewer": 403, "operator": 403, "other": 403}),
    ("patch", "/api/permissions/{grant}/", {"can_run": True},
     {"admin": 200, "steward": 403, "viewer": 403, "operator": 403, "other": 403}),
    ("delete", "/api/permissions/{grant}/", None,
     {"admin": 204, "steward": 403, "viewer": 403, "operator": 403, "other": 403}),
]  # fmt: skip


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize(("method", "url", "body", "allowed"), WRITES, ids=[f"{w[0]} {w[1]}" for w in WRITES])
def test_every_write_is_allowed_exactly_to_the_roles_and_grants_that_may_do_it(world, method, url, body, allowed, who):
    grant = PipelinePermission.objects.filter(group__name="Viewer").first()
    url = url.format(grant=grant.pk)
    response = getattr(client_for(world, who), method)(url, body, format="json")

    expected = 401 if who == "anonymous" else allowed[who]
    assert response.status_code == expected, (who, response.content)
    if expected >= 400:
        assert response.json()["error"]["status"] == expected


@pytest.mark.parametrize("who", USERS)
def test_cancelling_a_run_needs_the_right_to_run_its_pipeline(world, who):
    _, runs = world
    queued = ImportRun.objects.create(pipeline_name="Sales", import_names=["daily_sales"])

    response = client_for(world, who).post(f"/api/runs/{queued.pk}/cancel/")

    expected = {"anonymous": 401, "operator": 202, "admin": 202, "other": 404}.get(who, 403)
    assert response.status_code == expected, response.content
    queued.refresh_from_db()
    assert queued.status == ("CANCELED" if expected == 202 else "QUEUED")


# ----------------------------------------------------------------------------------------- authentication


def test_a_session_write_without_the_csrf_token_is_refused(world):
    users, _ = world
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["steward"])

    response = client.post("/api/quality-rules/", RULE_BODY, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert not DataQualityRule.objects.filter(rule_name="sales_amount_ok").exists()


def test_a_token_authenticates_without_csrf_and_a_revoked_token_does_not(world):
    users, _ = world
    token = Token.objects.create(user=users["steward"])
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert client.post("/api/quality-rules/", RULE_BODY, format="json").status_code == 201

    token.delete()
    response = client.get("/api/quality-rules/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Token"


def test_anonymous_calls_are_told_how_to_authenticate():
    response = APIClient().get("/api/pipelines/")

    assert response.status_code == 401
    assert response.json() == {
        "error": {"status": 401, "code": "not_authenticated", "message": response.json()["error"]["message"]}
    }
    assert response["WWW-Authenticate"] == "Token"


# ----------------------------------------------------------------------------------------- behaviour


def test_a_bad_rule_is_refused_with_one_error_shape_naming_the_field(world):
    users, _ = world
    body = {**RULE_BODY, "check_type": "IS_IN_SET", "check_expression": "'; DROP TABLE x; --"}

    response = csrf_client(users["steward"]).post("/api/quality-rules/", body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (400, "invalid")
    assert list(error["fields"]) == ["check_expression"]
    assert error["message"].startswith("check_expression: ")
    assert not DataQualityRule.objects.filter(rule_name="sales_amount_ok").exists()


def test_a_steward_may_not_put_a_rule_on_a_table_of_a_pipeline_they_are_not_granted(world):
    users, _ = world
    body = {**RULE_BODY, "target_table": "staging.api_ledger"}

    response = csrf_client(users["steward"]).post("/api/quality-rules/", body, format="json")

    assert response.status_code == 403
    assert "staging.api_ledger" in response.json()["error"]["message"]


def test_a_pipeline_with_runs_is_deactivated_not_deleted(world):
    users, _ = world
    client = csrf_client(users["admin"])

    response = client.delete("/api/pipelines/daily_sales/")

    assert response.status_code == 409
    assert "deactivate" in response.json()["error"]["message"]
    assert client.patch("/api/pipelines/daily_sales/", {"is_active": False}, format="json").status_code == 200
    assert PipelineConfig.objects.get(import_name="daily_sales").is_active is False


def test_dependencies_are_import_names_and_a_cycle_is_refused_naming_the_field(world):
    users, _ = world
    client = csrf_client(users["admin"])

    assert client.patch("/api/pipelines/ledger/", {"depends_on": ["daily_sales"]}, format="json").status_code == 200
    response = client.patch("/api/pipelines/daily_sales/", {"depends_on": ["ledger"]}, format="json")

    assert response.status_code == 400
    assert "cycle" in response.json()["error"]["fields"]["depends_on"][0]
    assert list(PipelineConfig.objects.get(import_name="daily_sales").depends_on.all()) == []


def test_the_webhook_url_is_accepted_but_never_returned(world):
    users, _ = world
    client = csrf_client(users["admin"])
    body = {
        "target_table": "dw.fact_stock",
        "date_column": "day",
        "value_column": "units",
        "model_type": "forecast",
        "alert_webhook_url": WEBHOOK + "-2",
    }

    created = client.post("/api/analytics-configs/", body, format="json")
    listed = client.get("/api/analytics-configs/")

    assert created.status_code == 201
    for response in (created, listed, client.get(f"/api/analytics-configs/{created.json()['id']}/")):
        assert "very-secret-token" not in response.content.decode()
    assert [row["alert_webhook_configured"] for row in listed.json()["results"]] == [True, True]


def test_launching_over_the_api_queues_runs_like_the_dashboard(world):
    users, _ = world
    PipelineConfigFactory(pipeline_name="Sales", import_name="refunds")

    response = csrf_client(users["operator"]).post("/api/runs/", {"imports": ["refunds", "daily_sales"]}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert [(r["import_names"], r["status"], r["trigger"], r["requested_by"]) for r in body] == [
        (["refunds"], "QUEUED", "api", "op"),
        (["daily_sales"], "QUEUED", "api", "op"),
    ]
    listed = csrf_client(users["operator"]).get("/api/runs/", {"import": "refunds"}).json()["results"]
    assert [r["id"] for r in listed] == [body[0]["id"]]


def test_launching_nothing_or_an_unknown_import_names_the_problem(world):
    users, _ = world
    client = csrf_client(users["operator"])

    empty = client.post("/api/runs/", {"imports": []}, format="json")
    unknown = client.post("/api/runs/", {"imports": ["nope"]}, format="json")

    assert empty.status_code == 400 and "imports" in empty.json()["error"]["fields"]
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]["message"]


def test_run_lists_filter_by_status_user_and_date_and_paginate(world):
    users, runs = world
    client = csrf_client(users["admin"])
    ImportRun.objects.create(pipeline_name="Sales", import_names=["daily_sales"], status="FAILURE")

    assert [r["status"] for r in client.get("/api/runs/", {"status": "FAILURE"}).json()["results"]] == ["FAILURE"]
    assert client.get("/api/runs/", {"user": "nobody"}).json()["count"] == 0
    assert client.get("/api/runs/", {"since": "2000-01-01", "pipeline": "Finance"}).json()["count"] == 1
    page = client.get("/api/runs/", {"page_size": 2}).json()
    assert (page["count"], len(page["results"]), page["next"] is not None) == (3, 2, True)
    bad = client.get("/api/runs/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]


def test_an_unknown_api_path_and_a_server_error_keep_the_error_shape(world, monkeypatch):
    users, _ = world
    client = csrf_client(users["admin"])
    client.raise_request_exception = False

    unknown = client.get("/api/nowhere/")

    assert unknown.status_code == 404
    message = "No API endpoint at /api/nowhere/."
    assert unknown.json()["error"] == {"status": 404, "code": "not_found", "message": message}
    assert "Did you mean /api/runs/" in client.get("/api/runs").json()["error"]["message"]

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail: password=hunter2")

    monkeypatch.setattr("backend.api.views.selectors.import_run_list_visible", broken)
    failed = client.get("/api/runs/")

    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "server_error"
    assert "hunter2" not in failed.content.decode()


def test_too_many_calls_are_slowed_down_with_the_same_error_shape(world, monkeypatch):
    users, _ = world
    monkeypatch.setattr("rest_framework.throttling.SimpleRateThrottle.THROTTLE_RATES", {"user": "3/min", "anon": None})
    client = csrf_client(users["viewer"])

    statuses = [client.get("/api/pipelines/").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    error = client.get("/api/pipelines/").json()["error"]
    assert (error["status"], error["code"]) == (429, "throttled")
    assert "seconds" in error["message"]


def test_the_schema_and_the_docs_are_served_without_any_cdn(world):
    users, _ = world
    client = csrf_client(users["viewer"])

    schema = client.get("/api/schema/", {"format": "json"})
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert {"/api/pipelines/", "/api/runs/{id}/cancel/", "/api/quality-logs/"} <= set(paths)
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower() and "//unpkg" not in html
