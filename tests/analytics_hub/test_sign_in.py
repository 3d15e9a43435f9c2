"""Signing in to the hub with Launchpad accounts; what each role is offered."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.analytics_hub.conftest import APP, run_app

PAGES = [
    "overview.py",
    "warehouse_tables.py",
    "ask.py",
    "search.py",
    "forecast.py",
    "anomalies.py",
    "root_cause.py",
    "steward.py",
    "settings.py",
]


def _offered(app: AppTest) -> list[str]:
    """The page files the navigation registers for the signed-in user (switching to another one is refused)."""
    offered = []
    for page in PAGES:
        try:
            app.switch_page(f"app_pages/{page}")
        except ValueError:
            continue
        offered.append(page)
    return offered


def test_signed_out_visitors_see_only_the_sign_in_form(hub_world):
    app = run_app(AppTest.from_file(str(APP), default_timeout=60))

    assert app.title[0].value == "Launchpad analytics hub"
    assert [t.label for t in app.text_input] == ["Username", "Password"]
    assert not app.dataframe


def test_a_wrong_password_is_refused_in_plain_words(hub_world, signed_in):
    app = signed_in("viewer", password="wrong")

    assert app.error[0].value == "That username and password do not match an active account."
    assert "hub_user" not in app.session_state


def test_an_inactive_account_cannot_sign_in(hub_world, signed_in, django_user_model):
    django_user_model.objects.filter(username="viewer").update(is_active=False)

    app = signed_in("viewer", expect_success=False)

    assert "do not match an active account" in app.error[0].value


def test_each_role_is_offered_the_pages_it_may_use(hub_world, signed_in):
    readers = PAGES[:7]

    assert _offered(signed_in("viewer")) == readers
    assert _offered(signed_in("operator")) == readers
    assert _offered(signed_in("steward")) == [*readers, "steward.py"]
    assert _offered(signed_in("admin")) == PAGES


def test_signing_out_returns_to_the_sign_in_form(hub_world, signed_in):
    app = signed_in("viewer")
    assert "Signed in as **viewer** (Viewer)" in app.sidebar.caption[0].value

    app.button(key="hub_sign_out").click()
    app = run_app(app)

    assert [t.label for t in app.text_input] == ["Username", "Password"]


TITLES = {
    "overview.py": "Overview",
    "warehouse_tables.py": "Warehouse tables",
    "ask.py": "Ask your data",
    "search.py": "Semantic search",
    "forecast.py": "Forecast",
    "anomalies.py": "Anomalies",
    "root_cause.py": "Root cause",
    "steward.py": "Data steward",
    "settings.py": "Analytics settings",
}


@pytest.mark.parametrize("username", ["viewer", "operator", "steward", "admin"])
def test_every_page_offered_to_a_role_opens_without_errors(hub_world, signed_in, username):
    hub_world.create(
        "sales", "id integer primary key, day date, region text, amount numeric", [(1, "2024-01-01", "N", 2)]
    )
    app = signed_in(username)

    for page in _offered(app):
        app.switch_page(f"app_pages/{page}")
        app = run_app(app)
        assert app.title[0].value == TITLES[page]
        assert not app.error, (page, [e.value for e in app.error])
