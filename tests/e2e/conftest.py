"""A live Dagster stack for the session: code servers, webserver and daemon as real subprocesses.

The code location reads its configs from pytest-django's test database, so tests that
use the stack take ``transactional_db`` (committed rows) and are marked ``e2e``. A second,
tiny code location (``load_probe``) fails to load while its flag file exists: the way to
see a failed reload for real without breaking the Launchpad location.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from backend.launcher import dagster_storage_url, wait_for_code_server
from backend.pipelines.models import PipelineConfig
from backend.runs.dagster_client import TERMINAL_STATUSES, DagsterClient, OrchestratorUnavailable, RunInfo

BASE_DIR = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
STARTUP_TIMEOUT_SECONDS = 180
STOP_GRACE_SECONDS = 15
PROBE_LOCATION = "load_probe"

PROBE_MODULE = '''"""A code location that fails to load while its flag file exists."""
from pathlib import Path

import dagster as dg

if Path({flag!r}).exists():
    raise RuntimeError("load_probe was told to fail")


@dg.asset
def probe_asset() -> int:
    return 1


defs = dg.Definitions(assets=[probe_asset])
'''

WORKSPACE = """load_from:
  - grpc_server:
      host: 127.0.0.1
      port: {launchpad_port}
      location_name: launchpad
  - grpc_server:
      host: 127.0.0.1
      port: {probe_port}
      location_name: {probe_location}
"""


@dataclass
class DagsterStack:
    """What the running stack offers tests: its GraphQL URL, the probe location's flag, and its logs."""

    graphql_url: str
    dagster_home: Path
    log_dir: Path
    database_url: str
    warehouse_url: str
    probe_location: str
    probe_fail_flag: Path
    workspace: Path
    env: dict[str, str] = field(default_factory=dict, repr=False)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def client(self, **kwargs) -> DagsterClient:
        return DagsterClient(self.graphql_url, **kwargs)

    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for name, proc in self.processes.items():
            path = self.log_dir / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            state = "running" if proc.poll() is None else f"exited {proc.returncode}"
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"----- {name} ({state}), last {lines} lines of {path} -----\n{tail}")
        return "\n".join(parts)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url.replace("postgresql+psycopg2://", "postgresql://"))
    params["dbname"] = dbname
    return make_conninfo(**params)


def _as_url(conninfo: str) -> str:
    """psycopg conninfo -> a postgresql:// URL (Dagster's storage wants a URL, not key=value pairs)."""
    from urllib.parse import quote, urlencode

    params = conninfo_to_dict(conninfo)
    user = quote(params.pop("user", "") or "", safe="")
    password = params.pop("password", "") or ""
    host = params.pop("host", "") or ""
    port = params.pop("port", "") or ""
    dbname = params.pop("dbname", "") or ""
    netloc = ""
    if host and not host.startswith("/"):
        netloc = host + (f":{port}" if port else "")
    elif host:
        params["host"] = host
        if port:
            params["port"] = port
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{auth}{netloc}/{dbname}{query}"


def _recreate_database(url: str, name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(_with_dbname(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _create_instance_storage(stack: DagsterStack) -> None:
    """Create Dagster's tables once, up front: processes starting together on an empty database race to
    create them (psycopg2 DuplicateObject: type "snapshots" already exists)."""
    result = subprocess.run(
        [str(BIN_DIR / "dagster"), "instance", "migrate"],
        cwd=BASE_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_SECONDS,
    )
    (stack.log_dir / "instance-migrate.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"dagster instance migrate failed:\n{(result.stdout + result.stderr)[-3000:]}")


def _start(stack: DagsterStack, name: str, command: list[str]) -> None:
    log = open(stack.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    # Own session: the group can be signalled as a whole, and Dagster sees default signal handlers.
    stack.processes[name] = subprocess.Popen(
        command, cwd=BASE_DIR, env=stack.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    """SIGTERM every process group, wait out the grace period together, then SIGKILL what is left."""
    for proc in processes.values():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in processes.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in processes.values():
        # Children (run workers, the code servers' gRPC subprocesses) share the group: kill it even
        # when its leader has exited.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _wait_for_code_servers(stack: DagsterStack, ports: dict[str, int], deadline: float) -> None:
    pending = dict(ports)
    while pending:
        for name, port in list(pending.items()):
            if stack.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {stack.processes[name].returncode}")
            if wait_for_code_server(port, timeout=1):
                pending.pop(name)
        if time.monotonic() > deadline:
            raise RuntimeError(f"no gRPC health answer from {', '.join(pending)}")


def _wait_for_locations(
    stack: DagsterStack, locations: list[str], deadline: float, webserver: str = "webserver", url: str = ""
) -> None:
    pending = {
        name: DagsterClient(url or stack.graphql_url, location_name=name, attempts=1, timeout=5) for name in locations
    }
    while pending:
        for name, client in list(pending.items()):
            if stack.processes[webserver].poll() is not None:
                raise RuntimeError(f"{webserver} exited with {stack.processes[webserver].returncode}")
            try:
                status = client.location_status()
            except OrchestratorUnavailable:
                continue
            if status.error:
                raise RuntimeError(f"location {name} failed to load: {status.error}")
            if status.loaded:
                pending.pop(name)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the webserver did not load {', '.join(pending)}")
        time.sleep(0.5)


def _prepare_home(root: Path, ports: dict[str, int]) -> tuple[Path, Path, Path]:
    """DAGSTER_HOME with the deploy instance config and a workspace of both code servers; the probe module."""
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((BASE_DIR / "deploy" / "dagster.yaml").read_text())
    workspace = home / "workspace.yaml"
    workspace.write_text(
        WORKSPACE.format(
            launchpad_port=ports["code-server"], probe_port=ports["probe-code-server"], probe_location=PROBE_LOCATION
        )
    )
    probe_module = root / "load_probe.py"
    probe_module.write_text(PROBE_MODULE.format(flag=str(root / "probe-fails")))
    return home, workspace, probe_module


def _start_stack(stack: DagsterStack, ports: dict[str, int], probe_module: Path) -> None:
    """Code servers first (gRPC health), then webserver and daemon; ready once both locations are loaded."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    _create_instance_storage(stack)
    code_server = [str(BIN_DIR / "dagster"), "code-server", "start", "-h", "127.0.0.1"]
    launchpad = ["-m", "dagster_code.definitions", "--location-name", "launchpad"]
    probe = ["-f", str(probe_module), "--location-name", PROBE_LOCATION]
    _start(stack, "code-server", [*code_server, "-p", str(ports["code-server"]), *launchpad])
    _start(stack, "probe-code-server", [*code_server, "-p", str(ports["probe-code-server"]), *probe])
    _wait_for_code_servers(stack, {name: ports[name] for name in ("code-server", "probe-code-server")}, deadline)
    webserver = [str(BIN_DIR / "dagster-webserver"), "-w", str(stack.workspace), "-h", "127.0.0.1"]
    _start(stack, "webserver", [*webserver, "-p", str(ports["webserver"])])
    _start(stack, "daemon", [str(BIN_DIR / "dagster-daemon"), "run", "-w", str(stack.workspace)])
    _wait_for_locations(stack, ["launchpad", PROBE_LOCATION], deadline)


# Playwright's sync API runs an event loop in the test thread; Django's ORM calls there are safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def dagster_stack(django_db_setup, warehouse_url: str, tmp_path_factory) -> Iterator[DagsterStack]:
    """Code servers, webserver and daemon over the test databases; stopped (process groups) at the end."""
    from django.conf import settings

    root = tmp_path_factory.mktemp("dagster_stack")
    ports = {"code-server": _free_port(), "probe-code-server": _free_port(), "webserver": _free_port()}
    home, workspace, probe_module = _prepare_home(root, ports)
    log_dir = root / "logs"
    log_dir.mkdir()
    dagster_db = f"test_dagster_{os.getpid()}"
    _recreate_database(os.environ["DAGSTER_PG_URL"], dagster_db)
    stack = DagsterStack(
        graphql_url=f"http://127.0.0.1:{ports['webserver']}/graphql",
        dagster_home=home,
        log_dir=log_dir,
        database_url=_as_url(_with_dbname(os.environ["DATABASE_URL"], settings.DATABASES["default"]["NAME"])),
        warehouse_url=warehouse_url,
        probe_location=PROBE_LOCATION,
        probe_fail_flag=root / "probe-fails",
        workspace=workspace,
    )
    stack.env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DATABASE_URL": stack.database_url,  # pytest-django's test database: the code location reads configs there
        "WAREHOUSE_URL": warehouse_url,
        "DAGSTER_PG_URL": dagster_storage_url(_as_url(_with_dbname(os.environ["DAGSTER_PG_URL"], dagster_db))),
        "DAGSTER_HOME": str(home),
        "LAUNCHPAD_RELOAD_ON_SAVE": "false",
        "PYTHONUNBUFFERED": "1",
    }
    try:
        _start_stack(stack, ports, probe_module)
    except Exception as exc:
        tails = stack.log_tails()
        _stop(stack.processes)
        _recreate_database(os.environ["DAGSTER_PG_URL"], dagster_db, drop_only=True)
        pytest.fail(f"The Dagster stack did not start: {exc}\n{tails}", pytrace=False)
    try:
        yield stack
    finally:
        _stop(stack.processes)
        _recreate_database(os.environ["DAGSTER_PG_URL"], dagster_db, drop_only=True)


@pytest.fixture
def dagster_client(dagster_stack: DagsterStack, settings) -> DagsterClient:
    """A client for the stack's Launchpad location. Config saves do not enqueue reloads: tests reload."""
    settings.LAUNCHPAD_RELOAD_ON_SAVE = False
    settings.DAGSTER_GRAPHQL_URL = dagster_stack.graphql_url
    return dagster_stack.client()


@pytest.fixture
def read_only_webserver(dagster_stack: DagsterStack) -> Iterator[str]:
    """A second webserver started with ``--read-only`` on the same workspace; yields its GraphQL URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    command = [str(BIN_DIR / "dagster-webserver"), "--read-only", "-w", str(dagster_stack.workspace)]
    _start(dagster_stack, "read-only-webserver", [*command, "-h", "127.0.0.1", "-p", str(port)])
    process = {"read-only-webserver": dagster_stack.processes["read-only-webserver"]}
    try:
        _wait_for_locations(
            dagster_stack, ["launchpad"], time.monotonic() + STARTUP_TIMEOUT_SECONDS, "read-only-webserver", url
        )
        yield url
    finally:
        _stop(process)
        dagster_stack.processes.pop("read-only-webserver")


@pytest.fixture
def celery_worker(dagster_stack) -> Iterator[subprocess.Popen]:
    """A real Celery worker with its beat (status sync every 2 s) on the test databases and the stack."""
    env = {
        **os.environ,
        **dagster_stack.env,
        "DATABASE_URL": dagster_stack.database_url,
        "WAREHOUSE_URL": dagster_stack.warehouse_url,
        "DAGSTER_GRAPHQL_URL": dagster_stack.graphql_url,
        "LAUNCHPAD_RELOAD_ON_SAVE": "false",
        "PYTHONUNBUFFERED": "1",
    }
    celery = str(BIN_DIR / "celery")
    subprocess.run([celery, "-A", "backend", "purge", "-f"], env=env, cwd=BASE_DIR, capture_output=True, timeout=60)
    # a reload the purge dropped would otherwise hold the "reload pending" flag until it expires
    from backend.runs.services import RELOAD_PENDING_KEY, _redis

    _redis().delete(RELOAD_PENDING_KEY)
    log_path = dagster_stack.log_dir / "celery-worker.log"
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            [
                celery,
                "-A",
                "backend",
                "worker",
                "-B",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--schedule",
                str(dagster_stack.log_dir / "beat-schedule"),
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            cwd=BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield worker
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def wait_for_run(
    client: DagsterClient, run_id: str, statuses: frozenset[str] = TERMINAL_STATUSES, timeout: float = 120
) -> RunInfo:
    """Poll until the run reaches one of ``statuses``; fail with the last status seen after ``timeout``."""
    deadline = time.monotonic() + timeout
    info = None
    while time.monotonic() < deadline:
        info = client.run_statuses([run_id]).get(run_id)
        if info is not None and info.status in statuses:
            return info
        time.sleep(0.5)
    pytest.fail(f"run {run_id} did not reach {sorted(statuses)} in {timeout:.0f}s (last: {info})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that used the stack shows the tails of the Dagster logs."""
    outcome = yield
    report = outcome.get_result()
    stack = item.funcargs.get("dagster_stack") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(stack, DagsterStack):
        report.sections.append(("Dagster stack logs", stack.log_tails()))


def make_demo_import(name: str, folder: Path, *, sensor: bool = False) -> PipelineConfig:
    """An import of the RetailSales demo pipeline (demo tables and procedure) watching ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return PipelineConfig.objects.create(
        pipeline_name="RetailSales",
        import_name=name,
        file_pattern="sales_*.csv",
        monitored_directory=str(folder),
        sensor_enabled=sensor,
        batch_window_seconds=0,
        staging_table="staging.daily_sales",
        destination_table="dw.sales",
        transform_procedure="dw.sp_transform_daily_sales",
        load_method="append",
    )
