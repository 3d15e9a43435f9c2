"""Benchmark: the run dashboard's launch latency and status endpoint, each against a named baseline.

1. Launch latency, "Run selected" -> the run is STARTED in Dagster. Logged in as a staff user,
   ``POST /runs/launch imports=<import>`` (the dashboard form, CSRF included, redirect followed),
   then the new ImportRun's id from ``/runs/status.json`` and its Dagster run (tag
   ``launchpad/import_run_id``) polled every 50 ms straight from Dagster's GraphQL. The latency is
   Dagster's own ``startTime`` of the run (else the moment STARTED was first seen) minus the moment
   before the POST. Each run is waited on until it finishes before the next launch (the demo pipeline
   allows one run per destination table at a time, so an overlap would measure the queue).

   Baseline "direct launchRun": the same asset selection (``<import>_extract_and_load_staging`` +
   ``<pipeline>_transform``) with the same Launchpad tags, launched with ``DagsterClient.launch_run``
   from this process -> STARTED. The two sides alternate (and swap order every round) so drift hits
   both alike. ``launch_ratio`` = dashboard p50 / direct p50: what Django + Celery add on top of
   Dagster's own queue and run-worker start.

2. Status endpoint under load: ``--pollers`` threads (default 50), all with the logged-in session's
   cookie, GET ``/runs/status.json?ids=<the runs above>`` back to back for ``--poll-seconds``
   (default 10); baseline: ``/healthz`` (one ``SELECT 1``) under the same threads for as long. The
   phases alternate (status, healthz, status, healthz) after a short untimed warm-up.
   ``status_ratio`` = status p95 / healthz p95.

By default the script starts its own stack: ``python -m backend.launcher up`` in a new session with a
throw-away data dir (its own embedded PostgreSQL and Redis), free ports and a known admin password,
and stops it at the end (SIGINT to its process group, SIGKILL after 60 s), then checks that no
process of that stack is left. ``--url``/``--graphql-url`` measure an installation that is already
running instead (nothing is started or stopped).

    .venv/bin/python bench/dashboard_bench.py [--runs 15] [--pollers 50] [--poll-seconds 10]

Targets from the spec (reported, not asserted): launch p50 < 3 s, status p95 < 150 ms.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
DEMO_CSV = ROOT / "demo" / "sales_2024-01-01.csv"
CODE_FILES = (
    "backend/runs/views.py",
    "backend/runs/services.py",
    "backend/runs/tasks.py",
    "backend/runs/selectors.py",
    "backend/runs/dagster_client.py",
    "backend/settings.py",
    "backend/launcher.py",
    "deploy/dagster.yaml",
)
# Store URLs and Dagster endpoints the stack must not inherit from this shell (it would reuse them).
STACK_ENV_DROP = (
    "DATABASE_URL",
    "WAREHOUSE_URL",
    "DAGSTER_PG_URL",
    "REDIS_URL",
    "DAGSTER_HOME",
    "DAGSTER_GRAPHQL_URL",
    "DAGSTER_UI_URL",
    "STREAMLIT_URL",
    "LAUNCHPAD_EMBEDDED",
)
REQUIRED_PORT_VARIABLES = ("LAUNCHPAD_WEB_PORT", "DAGSTER_WEBSERVER_PORT", "STREAMLIT_PORT", "DAGSTER_CODE_SERVER_PORT")
UP_LINE = "Launchpad is up"
STOP_WAIT_SECONDS = 60
TAG_IMPORT_RUN = "launchpad/import_run_id"
TAG_TRIGGER = "launchpad/trigger"
STARTED_OR_LATER = frozenset({"STARTED", "SUCCESS", "FAILURE", "CANCELING", "CANCELED"})
TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
DASHBOARD_STARTED = frozenset({"STARTED", "SUCCESS", "FAILURE", "CANCELED"})
LAUNCH_P50_TARGET_S = 3.0
STATUS_P95_TARGET_MS = 150.0
RUN_TIMEOUT_SECONDS = 180
RUN_EVENTS = ("RunEnqueuedEvent", "RunStartingEvent", "RunStartEvent")  # Dagster logs no dequeue event
CREATION_QUERY = "query RunTimes($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { creationTime } } }"


def _ensure_root_on_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in CODE_FILES:
        path = ROOT / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()[:12]


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or value != value else round(value, digits)  # NaN -> None


# ------------------------------------------------------------------------------------ own stack


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _launcher_port_variables() -> list[str]:
    """Every ``*_PORT`` variable the launcher reads (a new service brings a new one), plus the known four."""
    source = (ROOT / "backend" / "launcher.py").read_text()
    found = re.findall(r"""os\.environ\.get\(\s*["']([A-Z0-9_]+_PORT)["']""", source)
    return list(dict.fromkeys([*REQUIRED_PORT_VARIABLES, *found]))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        if state.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False  # a zombie has exited; its parent has yet to reap it
    return True


def _pid_from_file(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(path.read_text().split()[0])
    return None


@dataclass
class Stack:
    """``python -m backend.launcher up`` on a throw-away data dir and free ports, in its own session."""

    data_dir: Path
    ports: dict[str, int]
    password: str
    username: str = "admin"
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    startup_s: float | None = None
    stop_report: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['LAUNCHPAD_WEB_PORT']}"

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['DAGSTER_WEBSERVER_PORT']}/graphql"

    @property
    def incoming_dir(self) -> Path:
        return self.data_dir / "incoming" / "sales"

    @classmethod
    def create(cls) -> Stack:
        data_dir = Path(tempfile.mkdtemp(prefix="lp-dash-bench-"))
        data_dir.chmod(0o755)  # the embedded PostgreSQL runs as its own user when we are root
        names = _launcher_port_variables()
        ports = dict(zip(names, _free_ports(len(names)), strict=True))
        return cls(data_dir=data_dir, ports=ports, password=secrets.token_urlsafe(16))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in STACK_ENV_DROP}
        env.update({name: str(port) for name, port in self.ports.items()})
        env.update(
            LAUNCHPAD_DATA_DIR=str(self.data_dir),
            LAUNCHPAD_DEMO_ADMIN_PASSWORD=self.password,
            LAUNCHPAD_SEED_DEMO="true",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self, timeout: float) -> None:
        self.log_path = self.data_dir / "launcher.log"
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "backend.launcher", "up"],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = started + timeout
        while True:
            text = self.log_path.read_text(errors="replace")
            if "The Dagster code location failed to load" in text:
                raise RuntimeError("the stack's Dagster code location failed to load\n" + self.log_tail())
            if UP_LINE in text:
                break
            if self.proc.poll() is not None:
                cause = " (it received a SIGINT it was not sent by this bench)" if "SIGINT received" in text else ""
                raise RuntimeError(f"the launcher exited with {self.proc.returncode}{cause}\n" + self.log_tail())
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack was not up after {timeout:.0f}s\n" + self.log_tail())
            time.sleep(0.5)
        self.startup_s = time.monotonic() - started

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no launcher log)"
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return f"----- last {lines} lines of {self.log_path} -----\n{tail}"

    # ------------------------------------------------------------------ stopping and checking

    def _ours(self) -> list[int]:
        """Processes of this stack still alive: its data dir in their environment or command line."""
        marker_env = f"LAUNCHPAD_DATA_DIR={self.data_dir}".encode()
        marker_cmd = str(self.data_dir).encode()
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            environ = b""
            with contextlib.suppress(OSError):
                environ = (entry / "environ").read_bytes()
            if (marker_cmd in cmdline or marker_env in environ.split(b"\0")) and _pid_alive(pid):
                found.add(pid)
        for pid_file in (self.data_dir / "pg" / "postmaster.pid", self.data_dir / "redis" / "redis.pid"):
            pid = _pid_from_file(pid_file)
            if pid and _pid_alive(pid):
                found.add(pid)
        return sorted(found)

    def stop(self) -> dict[str, object]:
        report: dict[str, object] = {}
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGINT)  # what Ctrl-C does to `./run.sh up`
                try:
                    self.proc.wait(timeout=STOP_WAIT_SECONDS)
                    report["launcher_exit"] = self.proc.returncode
                except subprocess.TimeoutExpired:
                    report["launcher_exit"] = "killed after 60s"
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            else:
                report["launcher_exit"] = self.proc.returncode
            with contextlib.suppress(ProcessLookupError):  # anything left in the launcher's own group
                os.killpg(self.proc.pid, signal.SIGKILL)
        log_text = self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""
        stopped_line = [line for line in log_text.splitlines() if line.startswith("Stopped embedded")]
        report["launcher_said"] = stopped_line[-1] if stopped_line else ""

        deadline = time.monotonic() + 10  # processes reparented to init may need a moment to exit
        leftovers = self._ours()
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.5)
            leftovers = self._ours()
        report["leftover_processes"] = [self._describe(pid) for pid in leftovers]
        if leftovers:  # ours by the unique data dir: end them one by one
            self._stop_embedded()
            for pid in self._ours():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(1)
        report["after_cleanup"] = [self._describe(pid) for pid in self._ours()]
        report["clean"] = not leftovers and not report["after_cleanup"]
        self.stop_report = report
        return report

    def _stop_embedded(self) -> None:
        """The launcher stops the servers it started; if it could not, stop them the project's way."""
        env = self.env()
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                [sys.executable, "-m", "backend.embedded", "stop"], cwd=ROOT, env=env, capture_output=True, timeout=90
            )

    @staticmethod
    def _describe(pid: int) -> str:
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            return f"{pid} {cmd[:160]}"
        return str(pid)

    def remove(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------ dashboard client


class Dashboard:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def login(self, username: str, password: str) -> None:
        page = self.session.get(f"{self.url}/login/", timeout=30)
        page.raise_for_status()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if not match:
            raise RuntimeError("no CSRF token in the login form")
        answer = self.session.post(
            f"{self.url}/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": match.group(1), "next": "/"},
            headers={"Referer": f"{self.url}/login/"},
            timeout=60,
        )
        answer.raise_for_status()
        if "sessionid" not in self.session.cookies or "/login/" in answer.url:
            raise RuntimeError(f"logging in as {username} failed")

    def csrf(self) -> str:
        token = self.session.cookies.get("csrftoken")
        if not token:
            self.session.get(f"{self.url}/", timeout=30)
            token = self.session.cookies.get("csrftoken")
        if not token:
            raise RuntimeError("no csrftoken cookie after opening the dashboard")
        return token

    def recent_runs(self) -> list[dict]:
        answer = self.session.get(f"{self.url}/runs/status.json", timeout=30, allow_redirects=False)
        answer.raise_for_status()
        return answer.json()["runs"]

    def run_status(self, run_id: int) -> str | None:
        answer = self.session.get(f"{self.url}/runs/status.json", params={"ids": run_id}, timeout=30)
        answer.raise_for_status()
        runs = answer.json()["runs"]
        return runs[0]["status"] if runs else None

    def launch(self, import_name: str, token: str) -> requests.Response:
        """The "Run selected" form: POST, then the redirect to the dashboard (as a browser does)."""
        return self.session.post(
            f"{self.url}/runs/launch",
            data={"imports": [import_name], "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.url}/"},
            timeout=60,
        )


# ------------------------------------------------------------------------------------ launch latency


@dataclass
class LaunchSample:
    side: str  # "dashboard" | "direct"
    t0: float  # wall clock just before the POST / the launchRun mutation
    latency_s: float | None = None  # t0 -> Dagster's startTime (or first seen STARTED)
    start_from: str = ""  # "dagster" (startTime) | "observed"
    created_s: float | None = None  # t0 -> Dagster run record created (the launchRun mutation)
    request_s: float | None = None  # the POST + redirect / the mutation, as this client saw it
    importrun_s: float | None = None  # t0 -> ImportRun.created_at (dashboard only)
    visible_s: float | None = None  # t0 -> status.json first says started or later (dashboard only)
    run_s: float | None = None  # Dagster startTime -> endTime
    events: dict[str, float] = field(default_factory=dict)  # Dagster run event type -> seconds from t0
    status: str = ""
    import_run_id: int | None = None
    dagster_run_id: str = ""
    error: str = ""
    note: str = ""


def _creation_time(graphql_url: str, run_id: str) -> float | None:
    with contextlib.suppress(requests.RequestException, KeyError, TypeError, ValueError):
        answer = requests.post(
            graphql_url,
            json={"query": CREATION_QUERY, "variables": {"runId": run_id}, "operationName": "RunTimes"},
            timeout=10,
        )
        value = answer.json()["data"]["runOrError"].get("creationTime")
        return float(value) if value is not None else None
    return None


def _iso_to_epoch(value: str | None) -> float | None:
    if not value:
        return None
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _follow_run(
    client, sample: LaunchSample, run_id: str, dashboard: Dashboard | None, deadline: float, graphql_url: str
) -> None:
    """Poll Dagster every 50 ms until STARTED, then every 250 ms until finished (and the dashboard
    shows the run as started, when it is a dashboard run)."""
    sample.dagster_run_id = run_id
    seen_started: float | None = None
    last_dashboard_poll = 0.0
    info = None
    while time.monotonic() < deadline:
        now = time.time()
        info = client.run_statuses([run_id]).get(run_id)
        if info is not None and info.status in STARTED_OR_LATER and seen_started is None:
            seen_started = now
        if dashboard is not None and sample.visible_s is None and time.monotonic() - last_dashboard_poll >= 0.2:
            last_dashboard_poll = time.monotonic()
            status = dashboard.run_status(sample.import_run_id)
            if status in DASHBOARD_STARTED:
                sample.visible_s = time.time() - sample.t0
        finished = info is not None and info.status in TERMINAL
        if finished and (dashboard is None or sample.visible_s is not None):
            break
        time.sleep(0.05 if seen_started is None else 0.25)
    else:
        sample.error = f"run {run_id} not finished after {RUN_TIMEOUT_SECONDS}s (last status {info and info.status})"
    if info is None:
        sample.error = sample.error or f"Dagster has no run {run_id}"
        return
    sample.status = info.status
    if info.start_time:
        sample.latency_s, sample.start_from = info.start_time - sample.t0, "dagster"
    elif seen_started is not None:
        sample.latency_s, sample.start_from = seen_started - sample.t0, "observed"
    if info.start_time and info.end_time:
        sample.run_s = info.end_time - info.start_time
    created = _creation_time(graphql_url, run_id)
    if created is not None:
        sample.created_s = created - sample.t0
    with contextlib.suppress(Exception):  # the breakdown is a bonus; never fail a sample on it
        for event in client.run_events(run_id, limit=100).events:
            if event.event_type in RUN_EVENTS and event.event_type not in sample.events:
                sample.events[event.event_type] = event.timestamp - sample.t0


def launch_dashboard(dashboard: Dashboard, client, import_name: str, graphql_url: str) -> LaunchSample:
    token = dashboard.csrf()
    known = {run["id"] for run in dashboard.recent_runs()}
    t0 = time.time()
    sample = LaunchSample("dashboard", t0)
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    answer = dashboard.launch(import_name, token)
    sample.request_s = time.time() - t0
    if answer.status_code != 200 or "/login/" in answer.url:
        sample.error = f"POST /runs/launch -> HTTP {answer.status_code} at {answer.url}"
        return sample
    if "Started 1 import" not in answer.text:
        sample.note = "the dashboard page did not say 'Started 1 import'"
    new_run = None
    while new_run is None and time.monotonic() < deadline:
        fresh = [r for r in dashboard.recent_runs() if r["id"] not in known and import_name in r["imports"]]
        if fresh:
            new_run = max(fresh, key=lambda r: r["id"])
        else:
            time.sleep(0.05)
    if new_run is None:
        sample.error = sample.error or "no new ImportRun appeared in /runs/status.json"
        return sample
    sample.import_run_id = new_run["id"]
    created_at = _iso_to_epoch(new_run.get("created_at"))
    if created_at is not None:
        sample.importrun_s = created_at - t0
    run_id = None
    while run_id is None and time.monotonic() < deadline:
        tagged = client.runs_with_tag(TAG_IMPORT_RUN, str(sample.import_run_id), limit=1)
        if tagged:
            run_id = tagged[0].run_id
        else:
            time.sleep(0.05)
    if run_id is None:
        status = dashboard.run_status(sample.import_run_id)
        sample.error = sample.error or f"no Dagster run for ImportRun {sample.import_run_id} (dashboard: {status})"
        return sample
    _follow_run(client, sample, run_id, dashboard, deadline, graphql_url)
    return sample


def launch_direct(client, asset_keys: list[str], tags: dict[str, str], graphql_url: str) -> LaunchSample:
    t0 = time.time()
    sample = LaunchSample("direct", t0)
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    try:
        run_id = client.launch_run(asset_keys, tags=tags)
    except Exception as exc:  # noqa: BLE001 - report any refusal as this sample's error
        sample.error = f"launchRun failed: {exc}"
        return sample
    sample.request_s = time.time() - t0
    _follow_run(client, sample, run_id, None, deadline, graphql_url)
    return sample


def wait_for_sensor_run(client, sensor_name: str, timeout: float) -> str:
    """After a file lands in the folder, the file sensor starts one run; let it finish first (it shares
    the destination's one-run-at-a-time limit with every launch measured)."""
    from backend.runs.dagster_client import OrchestratorError

    try:
        if not client.sensor_state(sensor_name).running:
            return "sensor not running"
    except OrchestratorError as exc:
        return f"sensor state unknown ({exc.message})"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = client.runs_with_tag(TAG_TRIGGER, "sensor", limit=5)
        if runs and all(run.is_finished for run in runs):
            return f"sensor run {runs[0].run_id[:8]} {runs[0].status}"
        time.sleep(0.5)
    return f"no finished sensor run after {timeout:.0f}s"


def summarize_side(samples: list[LaunchSample]) -> dict[str, float | None]:
    good = [s for s in samples if s.latency_s is not None]

    def pct(attr: str, p: float) -> float | None:
        values = [getattr(s, attr) for s in good if getattr(s, attr) is not None]
        return percentile(values, p) if values else None

    out = {
        "p50_s": pct("latency_s", 50),
        "p95_s": pct("latency_s", 95),
        "min_s": min((s.latency_s for s in good), default=None),
        "max_s": max((s.latency_s for s in good), default=None),
        "created_p50_s": pct("created_s", 50),
        "request_p50_s": pct("request_s", 50),
        "run_p50_s": pct("run_s", 50),
        "visible_p50_s": pct("visible_s", 50),
        "visible_p95_s": pct("visible_s", 95),
        "importrun_p50_s": pct("importrun_s", 50),
    }
    queue = [s.latency_s - s.created_s for s in good if s.created_s is not None]
    out["dagster_part_p50_s"] = percentile(queue, 50) if queue else None

    def between(first: str, then: str) -> float | None:
        values = [s.events[then] - s.events[first] for s in good if first in s.events and then in s.events]
        return percentile(values, 50) if values else None

    out["queued_p50_s"] = between("RunEnqueuedEvent", "RunStartingEvent")  # run coordinator: queue + launch
    out["worker_start_p50_s"] = between("RunStartingEvent", "RunStartEvent")  # run worker process start
    return out


# ------------------------------------------------------------------------------------ status pollers


@dataclass
class PollResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    client_cpu_s: float = 0.0
    first_error: str = ""


def poll_phase(
    url: str, cookies, pollers: int, seconds: float, check_runs: int | None, interval: float = 0.0
) -> PollResult:
    """``pollers`` threads GET ``url`` for ``seconds``, each every ``interval`` seconds like the
    dashboard (0: back to back, a stress test); every latency is kept."""
    result = PollResult()
    lock = threading.Lock()
    barrier = threading.Barrier(pollers + 1)
    stop_at = [0.0]

    def worker() -> None:
        session = requests.Session()
        session.cookies.update(cookies)
        local: list[float] = []
        errors = 0
        first_error = ""
        barrier.wait()
        if interval:
            time.sleep(random.uniform(0, interval))  # browsers do not poll in lockstep
        while time.monotonic() < stop_at[0]:
            started = time.perf_counter()
            try:
                answer = session.get(url, timeout=30, allow_redirects=False)
                elapsed = time.perf_counter() - started
                ok = answer.status_code == 200
                if ok and check_runs is not None:
                    ok = len(answer.json()["runs"]) == check_runs
                if not ok:
                    errors += 1
                    first_error = first_error or f"HTTP {answer.status_code} {answer.text[:120]!r}"
                local.append(elapsed)
            except (requests.RequestException, ValueError) as exc:
                errors += 1
                first_error = first_error or repr(exc)[:160]
            if interval:
                time.sleep(max(0.0, started + interval - time.perf_counter()))
        session.close()
        with lock:
            result.latencies.extend(local)
            result.errors += errors
            result.first_error = result.first_error or first_error

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(pollers)]
    for thread in threads:
        thread.start()
    cpu = time.process_time()
    begun = time.monotonic()
    stop_at[0] = begun + seconds
    barrier.wait()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    result.seconds = time.monotonic() - begun
    result.client_cpu_s = time.process_time() - cpu
    return result


def merge(results: list[PollResult]) -> PollResult:
    out = PollResult()
    for res in results:
        out.latencies.extend(res.latencies)
        out.errors += res.errors
        out.seconds += res.seconds
        out.client_cpu_s += res.client_cpu_s
        out.first_error = out.first_error or res.first_error
    return out


def poll_figures(res: PollResult) -> dict[str, float | None]:
    ms = [x * 1000 for x in res.latencies]
    return {
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms, default=float("nan")),
        "requests": len(ms),
        "rps": len(ms) / res.seconds if res.seconds else float("nan"),
        "errors": res.errors,
        "client_cpu_share": res.client_cpu_s / res.seconds if res.seconds else float("nan"),
    }


# ------------------------------------------------------------------------------------ main


def _print_sample(i: int, total: int, s: LaunchSample, warm: bool) -> None:
    tag = "warm-up" if warm else f"{i}/{total}"
    if s.latency_s is None:
        print(f"  {tag:>7} {s.side:<9}  FAILED: {s.error}", flush=True)
        return
    extra = f", visible {s.visible_s:.2f}s" if s.visible_s is not None else ""
    created = f"created +{s.created_s:.2f}s" if s.created_s is not None else "created ?"
    note = f"  [{s.error or s.note}]" if s.error or s.note else ""
    print(
        f"  {tag:>7} {s.side:<9}  started +{s.latency_s:.2f}s ({created}{extra}; run {s.run_s or 0:.1f}s "
        f"{s.status}){note}",
        flush=True,
    )


def measure(args, url: str, graphql_url: str, password: str, incoming: Path | None) -> dict[str, object]:
    _ensure_root_on_path()
    from backend.runs.dagster_client import DagsterClient

    if "backend.settings" in sys.modules:  # would have started embedded servers in this checkout's .data
        raise SystemExit("bench bug: Django settings were imported by the benchmark process")

    client = DagsterClient(graphql_url, timeout=30)
    dashboard = Dashboard(url)
    print(f"logging in as {args.username} at {url} ...", flush=True)
    dashboard.login(args.username, password)

    sensor_note = "no file copied"
    if incoming is not None:
        target = incoming / DEMO_CSV.name
        if target.exists():
            sensor_note = f"{target.name} already in the folder"
        else:
            incoming.mkdir(parents=True, exist_ok=True)
            shutil.copy2(DEMO_CSV, target)
            print(f"copied {DEMO_CSV.name} into {incoming}; waiting for the file sensor's run ...", flush=True)
            sensor_note = wait_for_sensor_run(client, f"{args.import_name}_file_sensor", args.sensor_timeout)
        print(f"  {sensor_note}", flush=True)

    samples: list[LaunchSample] = []
    direct_tags: dict[str, str] | None = None
    asset_keys: list[str] | None = None
    rounds = args.warmup + args.runs
    print(f"launch latency: {args.warmup} warm-up + {args.runs} timed round(s), dashboard and direct alternating")
    for i in range(rounds):
        warm = i < args.warmup
        order = ("dashboard", "direct") if i % 2 == 0 else ("direct", "dashboard")
        for side in order:
            if side == "dashboard":
                sample = launch_dashboard(dashboard, client, args.import_name, graphql_url)
                if direct_tags is None and sample.dagster_run_id:
                    info = client.run_statuses([sample.dagster_run_id])[sample.dagster_run_id]
                    pipeline = info.tags.get("launchpad/pipeline", args.pipeline)
                    direct_tags = {
                        k: v
                        for k, v in info.tags.items()
                        if k.startswith("launchpad/") and k not in (TAG_IMPORT_RUN, "launchpad/user")
                    }
                    direct_tags[TAG_TRIGGER] = "bench"
                    asset_keys = [f"{args.import_name}_extract_and_load_staging", f"{pipeline}_transform"]
            else:
                if direct_tags is None:
                    direct_tags = {
                        "launchpad/import": args.import_name,
                        "launchpad/pipeline": args.pipeline,
                        "launchpad/destination": args.destination,
                        TAG_TRIGGER: "bench",
                    }
                    asset_keys = [f"{args.import_name}_extract_and_load_staging", f"{args.pipeline}_transform"]
                sample = launch_direct(client, asset_keys, direct_tags, graphql_url)
            _print_sample(i - args.warmup + 1, args.runs, sample, warm)
            if not warm:
                samples.append(sample)

    dash = [s for s in samples if s.side == "dashboard"]
    direct = [s for s in samples if s.side == "direct"]
    dash_fig, direct_fig = summarize_side(dash), summarize_side(direct)

    ids = [s.import_run_id for s in dash if s.import_run_id is not None]
    status_path = f"{url.rstrip('/')}/runs/status.json?ids={','.join(map(str, ids))}"
    health_path = f"{url.rstrip('/')}/healthz"
    cookies = dashboard.session.cookies
    print(
        f"status endpoint: {args.pollers} pollers, {args.poll_seconds:.0f}s per side "
        f"(alternating halves) on {len(ids)} run ids",
        flush=True,
    )
    poll_phase(status_path, cookies, args.pollers, 2.0, None)  # warm-up: connections, workers, caches
    poll_phase(health_path, cookies, args.pollers, 1.0, None)
    half = args.poll_seconds / 2
    status_parts, health_parts = [], []
    for _ in range(2):
        status_parts.append(poll_phase(status_path, cookies, args.pollers, half, len(ids), args.poll_interval))
        health_parts.append(poll_phase(health_path, cookies, args.pollers, half, None, args.poll_interval))
    status_fig, health_fig = poll_figures(merge(status_parts)), poll_figures(merge(health_parts))
    status_error, health_error = merge(status_parts).first_error, merge(health_parts).first_error

    return {
        "samples": samples,
        "dash": dash_fig,
        "direct": direct_fig,
        "status": status_fig,
        "health": health_fig,
        "status_error": status_error,
        "health_error": health_error,
        "sensor_note": sensor_note,
        "status_ids": len(ids),
    }


def ratio(a, b) -> float | None:
    return None if a is None or b is None or b != b or not b else a / b


def report(args, res: dict[str, object], stack: Stack | None, fingerprint: str) -> dict[str, object]:
    samples: list[LaunchSample] = res["samples"]
    dash, direct, status, health = res["dash"], res["direct"], res["status"], res["health"]
    failures = [s for s in samples if s.latency_s is None or s.error]
    run_failures = [s for s in samples if s.status and s.status != "SUCCESS"]
    launch_ratio = ratio(dash["p50_s"], direct["p50_s"])
    status_ratio = ratio(status["p95_ms"], health["p95_ms"])
    figures: dict[str, object] = {
        "bench": "dashboard",
        "baseline": "direct DagsterClient.launch_run; /healthz",
        "code": fingerprint,
        "stack": "own" if stack else "external",
        "cores": os.cpu_count(),
        "runs": args.runs,
        "launch_p50_s": _r(dash["p50_s"]),
        "launch_p95_s": _r(dash["p95_s"]),
        "direct_launch_p50_s": _r(direct["p50_s"]),
        "direct_launch_p95_s": _r(direct["p95_s"]),
        "launch_ratio": _r(launch_ratio),
        "launch_min_s": _r(dash["min_s"]),
        "launch_max_s": _r(dash["max_s"]),
        "launch_post_p50_s": _r(dash["request_p50_s"]),
        "launch_importrun_p50_s": _r(dash["importrun_p50_s"]),
        "launch_created_p50_s": _r(dash["created_p50_s"]),
        "launch_dagster_part_p50_s": _r(dash["dagster_part_p50_s"]),
        "direct_created_p50_s": _r(direct["created_p50_s"]),
        "direct_dagster_part_p50_s": _r(direct["dagster_part_p50_s"]),
        "launch_queued_p50_s": _r(dash["queued_p50_s"]),
        "launch_worker_start_p50_s": _r(dash["worker_start_p50_s"]),
        "direct_queued_p50_s": _r(direct["queued_p50_s"]),
        "direct_worker_start_p50_s": _r(direct["worker_start_p50_s"]),
        "launch_visible_p50_s": _r(dash["visible_p50_s"]),
        "launch_visible_p95_s": _r(dash["visible_p95_s"]),
        "run_p50_s": _r(dash["run_p50_s"]),
        "launch_failures": len(failures),
        "run_failures": len(run_failures),
        "status_p50_ms": _r(status["p50_ms"], 1),
        "status_p95_ms": _r(status["p95_ms"], 1),
        "status_p99_ms": _r(status["p99_ms"], 1),
        "status_rps": _r(status["rps"], 1),
        "status_errors": status["errors"],
        "healthz_p50_ms": _r(health["p50_ms"], 1),
        "healthz_p95_ms": _r(health["p95_ms"], 1),
        "healthz_rps": _r(health["rps"], 1),
        "healthz_errors": health["errors"],
        "status_ratio": _r(status_ratio),
        "pollers": args.pollers,
        "poll_seconds": args.poll_seconds,
        "poll_interval_s": args.poll_interval,
        "client_cpu_share": _r(status["client_cpu_share"], 2),
        "launch_p50_target_s": LAUNCH_P50_TARGET_S,
        "status_p95_target_ms": STATUS_P95_TARGET_MS,
        "launch_target_met": dash["p50_s"] is not None and dash["p50_s"] < LAUNCH_P50_TARGET_S,
        "status_target_met": status["p95_ms"] == status["p95_ms"] and status["p95_ms"] < STATUS_P95_TARGET_MS,
    }
    if stack is not None:
        figures["stack_startup_s"] = _r(stack.startup_s, 1)

    def s(value, unit="s", digits=2) -> str:
        return "   n/a" if value is None or value != value else f"{value:6.{digits}f}{unit}"

    print()
    print(f"Dashboard benchmark: {args.runs} timed launches per side, {os.cpu_count()} cores, code {fingerprint}")
    print("  launch -> STARTED in Dagster (from just before the POST / the launchRun mutation)")
    print(f"    dashboard          : p50 {s(dash['p50_s'])}  p95 {s(dash['p95_s'])}  (target p50 < 3 s)")
    print(f"    direct launchRun   : p50 {s(direct['p50_s'])}  p95 {s(direct['p95_s'])}  (baseline)")
    print(f"    ratio dash/direct  : {s(launch_ratio, 'x')}  (1.0 = no overhead over Dagster alone; lower is better)")
    print("    where the dashboard's time goes (p50, from t0):")
    print(f"      POST + redirect answered  {s(dash['request_p50_s'])}")
    print(f"      ImportRun row created     {s(dash['importrun_p50_s'])}")
    print(f"      Dagster run created       {s(dash['created_p50_s'])}   (direct: {s(direct['created_p50_s'])})")
    print(
        f"      created -> STARTED        {s(dash['dagster_part_p50_s'])}   "
        f"(direct {s(direct['dagster_part_p50_s'])}): Dagster's queue + run worker start"
    )
    print(
        f"        of which queued (enqueued -> starting) {s(dash['queued_p50_s'])} (direct {s(direct['queued_p50_s'])})"
        f", run worker start (starting -> started) {s(dash['worker_start_p50_s'])} "
        f"(direct {s(direct['worker_start_p50_s'])})"
    )
    print(
        f"      dashboard shows started   {s(dash['visible_p50_s'])}   p95 {s(dash['visible_p95_s'])} "
        "(status.json, synced every 2 s)"
    )
    print(f"    run itself (start -> end) p50 {s(dash['run_p50_s'])}; failures: {len(failures)} launch, "
          f"{len(run_failures)} runs not SUCCESS")  # fmt: skip
    print(f"  GET status.json?ids=<{res['status_ids']} runs>, {args.pollers} pollers, {args.poll_seconds:.0f}s")
    print(
        f"    status.json        : p50 {s(status['p50_ms'], 'ms', 1)}  p95 {s(status['p95_ms'], 'ms', 1)}  "
        f"p99 {s(status['p99_ms'], 'ms', 1)}  {status['rps']:7.1f} req/s  errors {status['errors']}  "
        "(target p95 < 150 ms)"
    )
    print(
        f"    /healthz (baseline): p50 {s(health['p50_ms'], 'ms', 1)}  p95 {s(health['p95_ms'], 'ms', 1)}  "
        f"p99 {s(health['p99_ms'], 'ms', 1)}  {health['rps']:7.1f} req/s  errors {health['errors']}"
    )
    print(f"    ratio p95 status/healthz: {s(status_ratio, 'x')}  (the client used "
          f"{status['client_cpu_share']:.0%} of a core while polling, on the same machine)")  # fmt: skip
    if res["status_error"] or res["health_error"]:
        print(f"    first errors: status {res['status_error'] or '-'}; healthz {res['health_error'] or '-'}")
    print(
        f"  targets: launch p50 < 3 s {'met' if figures['launch_target_met'] else 'NOT met'}; "
        f"status p95 < 150 ms {'met' if figures['status_target_met'] else 'NOT met'}"
    )
    print(f"  file sensor before the launches: {res['sensor_note']}")
    return figures


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15, help="timed launches per side (default 15)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds (one launch per side) first (default 1)")
    ap.add_argument("--pollers", type=int, default=50, help="concurrent status pollers (default 50)")
    ap.add_argument("--poll-seconds", type=float, default=20.0, help="seconds of polling per endpoint (default 20)")
    ap.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        help="seconds between one poller's requests, as the dashboard polls (default 2); 0 = back to back (stress)",
    )
    ap.add_argument("--import-name", default="daily_sales", help="the import to launch (default daily_sales)")
    ap.add_argument("--pipeline", default="RetailSales", help="its pipeline, if no dashboard run shows it")
    ap.add_argument("--destination", default="dw.sales", help="its destination table, ditto")
    ap.add_argument("--url", help="measure a running installation at this dashboard URL instead of starting one")
    ap.add_argument("--graphql-url", help="that installation's Dagster GraphQL URL (required with --url)")
    ap.add_argument("--username", default="admin", help="a user who may run the import (default admin)")
    ap.add_argument("--password", help="with --url: the user's password (default $LAUNCHPAD_BENCH_PASSWORD)")
    ap.add_argument("--incoming-dir", help="with --url: the import's folder, to put the demo CSV in once")
    ap.add_argument("--startup-timeout", type=float, default=420, help="seconds to wait for the own stack")
    ap.add_argument("--sensor-timeout", type=float, default=90, help="seconds to wait for the file sensor's run")
    ap.add_argument("--keep-data", action="store_true", help="keep the own stack's temp data dir (and its logs)")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.pollers < 1 or args.poll_seconds <= 0 or args.poll_interval < 0:
        ap.error("--runs and --pollers must be at least 1, --warmup at least 0, --poll-seconds positive")
    if args.url and not args.graphql_url:
        ap.error("--url needs --graphql-url")

    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the own stack is always stopped.
    signal.signal(signal.SIGTERM, _interrupted)
    fingerprint = code_fingerprint()
    started = time.monotonic()
    stack: Stack | None = None
    figures: dict[str, object] | None = None
    failed = False
    try:
        if args.url:
            password = args.password or os.environ.get("LAUNCHPAD_BENCH_PASSWORD", "")
            if not password:
                raise SystemExit("--url needs --password or LAUNCHPAD_BENCH_PASSWORD")
            incoming = Path(args.incoming_dir) if args.incoming_dir else None
            res = measure(args, args.url, args.graphql_url, password, incoming)
        else:
            stack = Stack.create()
            ports = ", ".join(f"{name}={port}" for name, port in stack.ports.items())
            print(f"starting an own stack in {stack.data_dir} ({ports}) ...", flush=True)
            stack.start(args.startup_timeout)
            print(f"  up in {stack.startup_s:.0f}s", flush=True)
            res = measure(args, stack.url, stack.graphql_url, stack.password, stack.incoming_dir)
        figures = report(args, res, stack, fingerprint)
    except BaseException:
        failed = True
        if stack is not None:
            print(stack.log_tail(), file=sys.stderr)
        raise
    finally:
        if stack is not None:
            print(f"stopping the own stack (SIGINT to its process group, SIGKILL after {STOP_WAIT_SECONDS}s) ...",
                  flush=True)  # fmt: skip
            stop = stack.stop()
            print(
                f"  launcher exit {stop.get('launcher_exit')}; {stop.get('launcher_said') or 'no embedded-stop line'}; "
                f"left over: {len(stop['leftover_processes'])} process(es)"
                + (f" {stop['leftover_processes']} (killed: {not stop['after_cleanup']})" if not stop["clean"] else ""),
                flush=True,
            )
            if figures is not None:
                figures["stack_stopped_clean"] = stop["clean"]
                figures["stack_leftovers"] = len(stop["leftover_processes"])
            if args.keep_data or failed or not stop["clean"]:
                print(f"  kept {stack.data_dir} (launcher log: {stack.log_path})", flush=True)
            else:
                stack.remove()
    if figures is None:
        return 1
    figures["bench_seconds"] = round(time.monotonic() - started, 1)
    if code_fingerprint() != fingerprint:
        print("WARNING: the measured code changed while the bench ran; the figures mix versions", file=sys.stderr)
        figures["code"] = fingerprint + "+changed"
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
