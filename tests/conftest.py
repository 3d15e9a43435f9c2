"""Shared fixtures: a throw-away warehouse database and a fresh schema per test."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

INTEGRATION_FIXTURES = {"db", "transactional_db", "django_db_setup", "warehouse", "warehouse_url", "warehouse_schema"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items) -> None:
    """Tests that touch a real server are integration tests (CI runs them twice).

    In a parallel run the e2e tests share one process, so one Dagster stack and one Celery worker serve
    them all (a stack per process costs more than it saves on two cores).
    """
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("stack"))
        uses_server = INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses_server or item.get_closest_marker("django_db") or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session) -> None:
    """A parallel run tells tests apart by node id: two tests with one id would run as one. Refuse that."""
    counts = Counter(item.nodeid for item in session.items)
    repeated = sorted(nodeid for nodeid, n in counts.items() if n > 1)
    if repeated:
        raise pytest.UsageError(f"{len(repeated)} node ids name more than one test, e.g. {repeated[0]}")


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def warehouse_url() -> Iterator[str]:
    """A warehouse database of our own for the session, dropped at the end."""
    base = os.environ["WAREHOUSE_URL"]
    name = f"test_{conninfo_to_dict(base).get('dbname', 'warehouse')}_{os.getpid()}"
    maintenance = _with_dbname(base, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_dbname(base, name)
    try:
        yield url
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def warehouse_schema(warehouse_url: str) -> Iterator[str]:
    """A fresh schema in the test warehouse, dropped (with everything in it) after the test."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def warehouse(warehouse_url: str, warehouse_schema: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test warehouse with ``warehouse_schema`` first on the search path."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(warehouse_schema)))
        yield conn


@pytest.fixture(autouse=True)
def _roles(request) -> None:
    """transactional_db flushes every table after each test, taking the roles (groups with their model
    permissions) that a data migration made; put them back for every database test that runs after one,
    in whatever order the tests run (a parallel run mixes them)."""
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
    elif "db" in request.fixturenames or marker:
        request.getfixturevalue("db")
    else:
        return
    from importlib import import_module

    from django.contrib.auth.models import Group, Permission

    roles = import_module("backend.pipelines.migrations.0002_roles").ROLES
    if Group.objects.filter(name__in=list(roles)).count() == len(roles):
        return
    for role, grants in roles.items():
        group, _ = Group.objects.get_or_create(name=role)
        for action, models in grants.items():
            codenames = [f"{action}_{model}" for model in models]
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label="pipelines", codename__in=codenames)
            )


@pytest.fixture(autouse=True)
def _no_reload_on_save(settings):
    """Config saves in tests do not ask a (absent) orchestrator to reload; tests that want it turn it on."""
    settings.LAUNCHPAD_RELOAD_ON_SAVE = False
