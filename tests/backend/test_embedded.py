"""Zero-config stores: start once, reuse on the second start, stop cleanly."""

from __future__ import annotations

import psycopg
import pytest
import redis

from backend import embedded

URL_KEYS = (*embedded.DATABASES, "REDIS_URL", embedded.EMBEDDED_MARKER)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No store URLs in the environment and a data directory of the test's own."""
    for key in URL_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path / "data"))
    yield tmp_path / "data"
    embedded.stop_services()


def _postmaster_pid(data_dir) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])


def test_start_creates_the_databases_and_exports_urls_then_reuses_and_stops(isolated, monkeypatch):
    assert embedded.ensure_services() == ["postgres", "redis"]
    urls = {key: embedded.os.environ[key] for key in (*embedded.DATABASES, "REDIS_URL")}
    for key, dbname in embedded.DATABASES.items():
        with psycopg.connect(urls[key]) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == dbname
            for name, value in embedded.SERVER_SETTINGS.items():
                assert conn.execute(f"SHOW {name}").fetchone()[0] == value
    socket = urls["REDIS_URL"].removeprefix("unix://").split("?")[0]
    client = redis.Redis(unix_socket_path=socket)
    client.set("launchpad-test", "kept")
    first_pid = _postmaster_pid(isolated)

    for key in URL_KEYS:
        monkeypatch.delenv(key, raising=False)
    assert embedded.ensure_services() == ["postgres", "redis"]
    assert {key: embedded.os.environ[key] for key in urls} == urls
    assert _postmaster_pid(isolated) == first_pid
    assert client.get("launchpad-test") == b"kept"

    assert embedded.stop_services() == ["postgres", "redis"]
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(urls["DATABASE_URL"], connect_timeout=3)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert embedded.stop_services() == []


def test_settings_changed_while_the_server_runs_wait_for_its_next_start(isolated, monkeypatch):
    embedded.ensure_services()
    url = embedded.os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:  # as a server started before these settings existed
        conn.execute("ALTER SYSTEM RESET wal_buffers")
    assert embedded._pg_ctl(isolated / "pg", "restart", "-l", str(isolated / "pg" / "log")).returncode == 0
    running = _postmaster_pid(isolated)

    for key in URL_KEYS:
        monkeypatch.delenv(key, raising=False)
    embedded.ensure_services()  # another process starting up: it must not restart the server under the first
    assert _postmaster_pid(isolated) == running
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW wal_buffers").fetchone()[0] != embedded.SERVER_SETTINGS["wal_buffers"]

    assert embedded._pg_ctl(isolated / "pg", "restart", "-l", str(isolated / "pg" / "log")).returncode == 0
    with psycopg.connect(url) as conn:  # written for the next start, which now applied them
        assert conn.execute("SHOW wal_buffers").fetchone()[0] == embedded.SERVER_SETTINGS["wal_buffers"]


def test_urls_already_set_start_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path / "unused"))
    for key in embedded.DATABASES:
        monkeypatch.setenv(key, "postgresql://example/db")
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/0")
    assert embedded.ensure_services() == []
    assert not (tmp_path / "unused").exists()
