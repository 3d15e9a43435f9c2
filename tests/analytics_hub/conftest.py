"""Hub page fixtures: real users and grants in the app database, real tables in the test warehouse, the hub's
read-only role (one per test session: roles are shared by every database of a server), and signed-in apps."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import streamlit as st
from django.contrib.auth.models import Group
from psycopg import sql
from streamlit.testing.v1 import AppTest

from tests.factories import PipelineConfigFactory, PipelinePermissionFactory, UserFactory

APP = Path(__file__).resolve().parents[2] / "analytics_hub" / "streamlit_app.py"
PASSWORD = "correct-horse-battery"
ROLES = {"viewer": "Viewer", "operator": "Operator", "steward": "Steward", "admin": "Admin"}


def drop_role(url: str, role: str) -> None:
    """Drop ``role`` and what it was granted in the database of ``url`` (roles belong to the whole server)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture(scope="session")
def hub_reader_role(warehouse_url: str) -> Iterator[str]:
    """A read-only role name of this session's own, dropped (with its grants) before the warehouse is."""
    role = f"hub_reader_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        yield role
    finally:
        drop_role(warehouse_url, role)


@pytest.fixture
def hub_env(monkeypatch, settings, warehouse_url: str, hub_reader_role: str) -> str:
    """The hub's warehouse is the test warehouse, read through this session's read-only role."""
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings.WAREHOUSE_URL = warehouse_url
    settings.LAUNCHPAD_HUB_READER_ROLE = hub_reader_role
    st.cache_data.clear()
    return warehouse_url


@dataclass
class HubWorld:
    """Users of every role and one pipeline whose tables live in the test schema."""

    schema: str
    pipeline: str
    conn: psycopg.Connection

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}"

    def create(self, name: str, columns: str, rows: list[tuple] = ()) -> str:
        table = sql.Identifier(self.schema, name)
        self.conn.execute(sql.SQL("CREATE TABLE {} (" + columns + ")").format(table))  # columns: test literals
        if rows:
            marks = sql.SQL(", ").join(sql.Placeholder() * len(rows[0]))
            with self.conn.cursor() as cur:
                cur.executemany(sql.SQL("INSERT INTO {} VALUES ({})").format(table, marks), rows)
        return self.table(name)


@pytest.fixture
def hub_world(transactional_db, hub_env, warehouse, warehouse_schema) -> HubWorld:
    """viewer/operator/steward/admin users; the pipeline ``Hub`` (staging and destination tables in the test
    schema) granted to the Viewer, Operator and Steward groups; a user ``outsider`` granted nothing."""
    pipeline = "Hub"
    PipelineConfigFactory(
        pipeline_name=pipeline,
        import_name=f"hub_{warehouse_schema}",
        staging_table=f"{warehouse_schema}.staging_sales",
        destination_table=f"{warehouse_schema}.sales",
    )
    for username, role in ROLES.items():
        user = UserFactory(username=username, is_staff=role == "Admin", is_superuser=role == "Admin")
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        if role != "Admin":
            PipelinePermissionFactory(
                group=Group.objects.get_or_create(name=role)[0], pipeline_name=pipeline, can_run=False
            )
    UserFactory(username="outsider")  # a Viewer by default, in no group: granted nothing
    return HubWorld(warehouse_schema, pipeline, warehouse)


def run_app(app: AppTest) -> AppTest:
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.fixture
def signed_in() -> Callable[[str], AppTest]:
    """An app signed in through the real sign-in form as ``username``."""

    def _sign_in(username: str, password: str = PASSWORD, *, expect_success: bool | None = None) -> AppTest:
        app = run_app(AppTest.from_file(str(APP), default_timeout=60))
        app.text_input(key="sign_in_username").input(username)
        app.text_input(key="sign_in_password").input(password)
        app.button[0].click()
        app = run_app(app)
        if expect_success if expect_success is not None else password == PASSWORD:
            assert "hub_user" in app.session_state, ("sign-in failed", [e.value for e in app.error])
        return app

    return _sign_in


def go_to(app: AppTest, page: str) -> AppTest:
    """Open ``page`` (a file under app_pages/) the way the sidebar does, still signed in."""
    app.switch_page(f"app_pages/{page}")
    app = run_app(app)
    assert "hub_user" in app.session_state, ("signed out", [w.value for w in app.warning], [e.value for e in app.error])
    return app
