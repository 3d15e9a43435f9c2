"""``./run.sh up`` and ``./run.sh test``: set up the stores, migrate, seed, then serve or test.

``up`` runs every service under one process manager (honcho): Ctrl-C stops them all
(process groups, then a hard kill after a grace period) and the embedded servers this
launcher started. ``run <service>`` starts one service with the same environment, for
Procfiles and containers.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from backend import embedded

BASE_DIR = embedded.BASE_DIR
HOST = os.environ.get("LAUNCHPAD_HOST", "127.0.0.1")
CODE_SERVER_HOST = os.environ.get("DAGSTER_CODE_SERVER_HOST", "127.0.0.1")
CODE_SERVER_BIND = os.environ.get("DAGSTER_CODE_SERVER_BIND", "127.0.0.1")
DAGSTER_BIND = os.environ.get("DAGSTER_WEBSERVER_BIND", "127.0.0.1")
PORTS = {
    "web": int(os.environ.get("LAUNCHPAD_WEB_PORT", "8000")),
    "dagster": int(os.environ.get("DAGSTER_WEBSERVER_PORT", "3000")),
    "dagster_ui": int(os.environ.get("DAGSTER_READONLY_PORT", "3001")),
    "code_server": int(os.environ.get("DAGSTER_CODE_SERVER_PORT", "4266")),
    "streamlit": int(os.environ.get("STREAMLIT_PORT", "8501")),
}


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def service_commands() -> dict[str, list[str]]:
    """The long-running processes of a Launchpad installation."""
    workspace = str(dagster_home() / "workspace.yaml")
    return {
        "web": [
            _bin("gunicorn"),
            "backend.wsgi",
            "--bind",
            f"{HOST}:{PORTS['web']}",
            "--worker-class",
            "gthread",
            "--workers",
            os.environ.get("WEB_WORKERS", "3"),
            "--threads",
            "8",
            "--timeout",
            "60",
            "--access-logfile",
            "-",
        ],
        "worker": [
            _bin("celery"),
            "-A",
            "backend",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
        ],
        "beat": [
            _bin("celery"),
            "-A",
            "backend",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(embedded.data_dir() / "celerybeat-schedule"),
        ],
        "code-server": [
            _bin("dagster"),
            "code-server",
            "start",
            "-m",
            "dagster_code.definitions",
            "-h",
            CODE_SERVER_BIND,
            "-p",
            str(PORTS["code_server"]),
            "--location-name",
            "launchpad",
        ],
        "dagster-webserver": [
            *_after_code_server(),
            _bin("dagster-webserver"),
            "-w",
            workspace,
            "-h",
            DAGSTER_BIND,
            "-p",
            str(PORTS["dagster"]),
        ],
        "dagster-ui": [
            *_after_code_server(),
            _bin("dagster-webserver"),
            "--read-only",
            "-w",
            workspace,
            "-h",
            HOST,
            "-p",
            str(PORTS["dagster_ui"]),
        ],
        "dagster-daemon": [*_after_code_server(), _bin("dagster-daemon"), "run", "-w", workspace],
        "streamlit": [
            _bin("streamlit"),
            "run",
            str(BASE_DIR / "analytics_hub" / "streamlit_app.py"),
            "--server.port",
            str(PORTS["streamlit"]),
            "--server.address",
            HOST,
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--client.toolbarMode",
            "minimal",
        ],
    }


def _after_code_server() -> list[str]:
    """Prefix that holds a command until the code server answers, so it loads the location at once."""
    return [sys.executable, "-m", "backend.launcher", "after-code-server"]


def wait_for_code_server(port: int, timeout: float) -> bool:
    """Wait until the code server's gRPC health check says SERVING (its port opens earlier)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"{CODE_SERVER_HOST}:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service="DagsterApi"), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return True
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    return False


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or embedded.data_dir() / "dagster_home")


def dagster_storage_url(url: str) -> str:
    """dagster-postgres needs psycopg2: give it an explicit ``postgresql+psycopg2://`` URL."""
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    raise SystemExit(f"DAGSTER_PG_URL must be a postgresql:// URL, got {url.split(':', 1)[0]}://...")


def prepare_environment() -> list[str]:
    """Start what is missing, export every URL and the Dagster home. Returns the embedded servers started."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    started = embedded.ensure_services(BASE_DIR)
    ensure_external_databases()
    os.environ["DAGSTER_PG_URL"] = dagster_storage_url(os.environ["DAGSTER_PG_URL"])
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    deploy = BASE_DIR / "deploy"
    (home / "dagster.yaml").write_text((deploy / "dagster.yaml").read_text())
    workspace = (
        (deploy / "workspace.yaml")
        .read_text()
        .replace("port: 4266", f"port: {PORTS['code_server']}")
        .replace("host: 127.0.0.1", f"host: {CODE_SERVER_HOST}")
    )
    (home / "workspace.yaml").write_text(workspace)
    os.environ.setdefault("DAGSTER_GRAPHQL_URL", f"http://127.0.0.1:{PORTS['dagster']}/graphql")
    os.environ.setdefault("DAGSTER_UI_URL", f"http://{HOST}:{PORTS['dagster_ui']}")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return started


def ensure_external_databases() -> None:
    """Create the app, warehouse and Dagster databases on a server we were pointed at, if missing."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    by_server: dict[str, list[str]] = {}
    for key in embedded.DATABASES:
        params = conninfo_to_dict(os.environ[key].replace("postgresql+psycopg2://", "postgresql://"))
        name = params.pop("dbname", None)
        if name:
            by_server.setdefault(make_conninfo(**params, dbname="postgres"), []).append(name)
    for maintenance, names in by_server.items():
        try:
            embedded.create_databases(maintenance, names)
        except Exception as exc:  # noqa: BLE001 - report any connection/permission failure plainly
            print(
                f"Note: could not check or create databases {', '.join(names)} ({type(exc).__name__}); "
                "they must exist already.",
                file=sys.stderr,
            )


def manage(*args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], check=True, cwd=BASE_DIR)


def set_up() -> list[str]:
    started = prepare_environment()
    manage("migrate", "--noinput", "-v", "0")
    # Create Dagster's tables once, before several Dagster processes race to do it.
    subprocess.run([_bin("dagster"), "instance", "migrate"], check=True, cwd=BASE_DIR, stdout=subprocess.DEVNULL)
    if os.environ.get("LAUNCHPAD_SEED_DEMO", "true").lower() not in {"0", "false", "no"}:
        manage("seed_demo")
    return started


def _demo_logins() -> str:
    logins = embedded.data_dir() / "demo-logins.txt"
    if not logins.exists():
        return "  (demo users exist; passwords were set from LAUNCHPAD_DEMO_*_PASSWORD)"
    return "\n".join(f"  {line.split(' ', 1)[0]} / {line.split(' ', 1)[1]}" for line in logins.read_text().splitlines())


def _answers(url: str, data: bytes | None = None) -> bytes | None:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310 - our own local services
            return response.read() if response.status == 200 else None
    except OSError:
        return None


_LOCATION_QUERY = json.dumps(
    {
        "query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
        "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    }
).encode()


def _dagster_location_loaded() -> bool:
    """True once the webserver has loaded the code location (a load error is reported, not waited on)."""
    body = _answers(f"http://127.0.0.1:{PORTS['dagster']}/graphql", _LOCATION_QUERY)
    if body is None:
        return False
    entries = (json.loads(body).get("data") or {}).get("workspaceOrError", {}).get("locationEntries") or []
    for entry in entries:
        loaded = entry.get("locationOrLoadError") or {}
        if entry.get("loadStatus") == "LOADED" and loaded.get("__typename") == "PythonError":
            print(f"\n!! The Dagster code location failed to load: {loaded.get('message', '').strip()}\n", flush=True)
            return True
        if entry.get("loadStatus") == "LOADED" and loaded.get("__typename") == "RepositoryLocation":
            return True
    return False


def _wait_until_up(started_at: float) -> None:
    checks = {
        "Django": lambda: _answers(f"http://{HOST}:{PORTS['web']}/healthz"),
        "Dagster": _dagster_location_loaded,
        "Streamlit": lambda: _answers(f"http://{HOST}:{PORTS['streamlit']}/_stcore/health"),
    }
    pending = dict(checks)
    while pending and time.monotonic() - started_at < 600:
        for name, check in list(pending.items()):
            if check():
                pending.pop(name)
        time.sleep(1)
    if pending:
        print(f"\n!! Not answering after 10 minutes: {', '.join(pending)}. See the log lines above.\n", flush=True)
        return
    print(
        f"""
============================================================
 Launchpad is up ({time.monotonic() - started_at:.0f}s)
   Admin and dashboard  http://{HOST}:{PORTS["web"]}/admin/
   Dagster UI           http://127.0.0.1:{PORTS["dagster"]}/  (read-only for users: http://{HOST}:{PORTS["dagster_ui"]}/)
   Analytics hub        http://{HOST}:{PORTS["streamlit"]}/
 Demo logins:
{_demo_logins()}
 Try it: cp demo/sales_2024-01-01.csv {embedded.data_dir() / "incoming" / "sales"}/
 Press Ctrl-C to stop everything.
============================================================
""",
        flush=True,
    )


def up() -> int:
    from honcho import manager as honcho_manager
    from honcho.printer import Printer

    started_at = time.monotonic()
    started = set_up()
    honcho_manager.KILL_WAIT = float(os.environ.get("LAUNCHPAD_STOP_GRACE_SECONDS", "15"))
    manager = honcho_manager.Manager(Printer(sys.stdout))
    env = dict(os.environ)
    for name, command in service_commands().items():
        manager.add_process(name, shlex.join(command), env=env, cwd=str(BASE_DIR))
    threading.Thread(target=_wait_until_up, args=(started_at,), daemon=True).start()
    try:
        manager.loop()
    finally:
        if started:
            stopped = embedded.stop_services(BASE_DIR)
            print(f"Stopped embedded {', '.join(stopped) or 'servers'}.", flush=True)
    return manager.returncode or 0


TEST_WORKERS_ENV = "LAUNCHPAD_TEST_WORKERS"


def parallel_args(pytest_args: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    """pytest-xdist options: one test process per core, up to 4 (``LAUNCHPAD_TEST_WORKERS`` chooses;
    0 or 1: one process), unless the arguments already choose (``-n``, ``--dist``, ``-p no:xdist``).

    ``loadgroup`` keeps each ``xdist_group`` (the e2e tests, see ``tests/conftest.py``) in one process.
    """
    chosen = ("-n", "--numprocesses", "--dist", "--tx")
    if any(arg.startswith(chosen) or arg.endswith("no:xdist") for arg in pytest_args):
        return []
    text = environ.get(TEST_WORKERS_ENV, "").strip()
    if text and not text.isdigit():
        raise SystemExit(f"{TEST_WORKERS_ENV} must be a whole number of test processes, not {text!r}.")
    workers = int(text) if text else min(os.cpu_count() or 1, 4)
    return ["-n", str(workers), "--dist", "loadgroup"] if workers > 1 else []


def run_tests(pytest_args: list[str]) -> int:
    started = set_up()
    command = [sys.executable, "-m", "pytest", *parallel_args(pytest_args), *pytest_args]
    try:
        code = subprocess.run(command, cwd=BASE_DIR).returncode
    finally:
        if started:
            embedded.stop_services(BASE_DIR)
    if code == 5:
        print("pytest collected no tests: failing, because a run that tests nothing proves nothing.", file=sys.stderr)
        return 1
    return code


def run_service(name: str, extra: list[str]) -> int:
    prepare_environment()
    commands = service_commands()
    if name not in commands:
        print(f"Unknown service {name!r}; choose one of: {', '.join(commands)}", file=sys.stderr)
        return 2
    command = [*commands[name], *extra]
    os.execvp(command[0], command)
    return 0  # unreachable


def main(argv: list[str]) -> int:
    if not argv:
        print(
            "usage: python -m backend.launcher up | test [pytest args] | setup | run <service> [args]", file=sys.stderr
        )
        return 2
    command, rest = argv[0], argv[1:]
    if command == "up":
        return up()
    if command == "test":
        return run_tests(rest)
    if command == "setup":
        set_up()
        return 0
    if command == "run" and rest:
        return run_service(rest[0], rest[1:])
    if command == "after-code-server" and rest:
        if not wait_for_code_server(PORTS["code_server"], timeout=300):
            print("The Dagster code server did not start within 5 minutes; starting anyway.", file=sys.stderr)
        os.execvp(rest[0], rest)
    return main([])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
