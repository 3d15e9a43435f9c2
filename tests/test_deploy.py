"""Deploy files stay valid: every service they start exists, and the Dagster instance config loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from backend import launcher

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_compose_and_procfile_only_start_known_services():
    known = set(launcher.service_commands())
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    started = {
        svc["command"][4]
        for svc in compose["services"].values()
        if svc.get("command", [])[:4] == ["python", "-m", "backend.launcher", "run"]
    }
    procfile = {
        line.split("run ", 1)[1].split()[0]
        for line in (DEPLOY / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert started == known
    assert procfile == known


def test_dagster_url_is_rewritten_for_psycopg2():
    assert launcher.dagster_storage_url("postgresql://u@/d?host=/s") == "postgresql+psycopg2://u@/d?host=/s"
    assert launcher.dagster_storage_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"
    with pytest.raises(SystemExit, match="must be a postgresql:// URL"):
        launcher.dagster_storage_url("mysql://u@h/d")


@pytest.mark.integration
def test_the_dagster_instance_config_loads_against_the_configured_database(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("DAGSTER_PG_URL", launcher.dagster_storage_url(os.environ["DAGSTER_PG_URL"]))
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled
    finally:
        instance.dispose()
