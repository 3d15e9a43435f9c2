"""Dagster tests: the demo pipeline in a throw-away warehouse, and a helper to build definitions."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backend.pipelines.demo import create_demo_pipeline, create_demo_warehouse
from backend.pipelines.specs import load_active_specs
from dagster_code.factory import build_definitions
from dagster_code.resources import WarehouseResource

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


@pytest.fixture(autouse=True, scope="module")
def _finalize_dagster_instances() -> Iterator[None]:
    """``materialize`` makes an ephemeral Dagster instance on SQLite, whose connections may only be closed
    in the thread that opened them. Collect them here, in that thread: left to a later garbage collection
    in another thread (a Streamlit script, a live server) they log a traceback each, and on Python 3.11
    formatting one parses source (``ast.parse``), which breaks a parse that thread was in the middle of."""
    yield
    gc.collect()


@pytest.fixture
def demo_warehouse(warehouse_url: str) -> str:
    """The demo tables and procedure, emptied, in the test warehouse."""
    create_demo_warehouse(warehouse_url)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("TRUNCATE staging.daily_sales, dw.sales")
    return warehouse_url


@pytest.fixture
def incoming(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming" / "sales"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def demo_pipeline(db, demo_warehouse: str, incoming: Path):
    """The RetailSales demo config watching ``incoming``; returns its definitions."""
    create_demo_pipeline(incoming)
    return build_definitions(load_active_specs(), WarehouseResource(url=demo_warehouse))


def drop_demo_file(incoming: Path, name: str = "sales_2024-01-01.csv") -> Path:
    return Path(shutil.copy(DEMO_DIR / name, incoming / name))
