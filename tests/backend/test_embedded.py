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


def test_urls_already_set_start_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path / "unused"))
    for key in embedded.DATABASES:
        monkeypatch.setenv(key, "postgresql://example/db")
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/0")
    assert embedded.ensure_services() == []
    assert not (tmp_path / "unused").exists()
