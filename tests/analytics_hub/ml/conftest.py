"""Fixtures for the analytics engine: the local fake OpenAI server and a per-session reader role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from analytics_hub.ml.reader_role import ensure_reader_role, reader_conninfo
from tests.analytics_hub.conftest import drop_role
from tests.analytics_hub.fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake OpenAI server with no replies queued; tests call ``set_replies``."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def reader_role_name(warehouse_url: str) -> Iterator[str]:
    """A reader role name unique to this session (roles are cluster-wide), dropped with its grants at the end."""
    role = f"lp_reader_{uuid.uuid4().hex[:12]}"
    try:
        yield role
    finally:
        drop_role(warehouse_url, role)


@pytest.fixture
def reader(warehouse: psycopg.Connection, warehouse_url: str, warehouse_schema: str, reader_role_name: str):
    """An autocommit connection logged in as the reader role, granted ``warehouse_schema`` only."""
    ensure_reader_role(warehouse, role=reader_role_name, schemas=[warehouse_schema])
    with psycopg.connect(reader_conninfo(warehouse_url, role=reader_role_name, password=None), autocommit=True) as conn:
        yield conn


@pytest.fixture
def other_schema(warehouse_url: str) -> Iterator[str]:
    """A second schema with a table (``vault``), never granted to the reader."""
    schema = f"o_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {} AS SELECT 1 AS secret").format(sql.Identifier(schema, "vault")))
    try:
        yield schema
    finally:
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
