"""A Celery worker killed in the middle of a launch: the redelivered task adopts the run, never launches twice."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import requests

from backend.pipelines.demo import create_demo_warehouse
from backend.runs import services
from backend.runs.models import ImportRun
from tests.e2e.conftest import make_demo_import

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


class SlowLaunchProxy:
    """Forwards GraphQL to Dagster; after forwarding a launchRun it holds the reply back for a while."""

    def __init__(self, upstream: str, hold_seconds: float) -> None:
        self.upstream, self.hold_seconds = upstream, hold_seconds
        self.launch_forwarded = threading.Event()
        self.launches = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply = requests.post(
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}, timeout=60
                )
                if b"mutation LaunchRun" in body:
                    proxy.launches += 1
                    proxy.launch_forwarded.set()
                    time.sleep(proxy.hold_seconds)
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/graphql"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def slow_proxy(dagster_stack) -> Iterator[SlowLaunchProxy]:
    proxy = SlowLaunchProxy(dagster_stack.graphql_url, hold_seconds=8)
    yield proxy
    proxy.server.shutdown()


@pytest.fixture
def worker_via_proxy(dagster_stack, slow_proxy) -> Iterator[subprocess.Popen]:
    env = {
        **os.environ,
        **dagster_stack.env,
        "DATABASE_URL": dagster_stack.database_url,
        "WAREHOUSE_URL": dagster_stack.warehouse_url,
        "DAGSTER_GRAPHQL_URL": slow_proxy.url,
        "LAUNCHPAD_RELOAD_ON_SAVE": "false",
    }
    celery = str(Path(sys.executable).parent / "celery")
    subprocess.run([celery, "-A", "backend", "purge", "-f"], env=env, cwd=ROOT, capture_output=True, timeout=60)
    with open(dagster_stack.log_dir / "celery-fault-worker.log", "ab") as log:
        worker = subprocess.Popen(
            [
                celery,
                "-A",
                "backend",
                "worker",
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    yield worker
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)


def test_a_worker_killed_mid_launch_still_yields_exactly_one_dagster_run(
    dagster_stack, dagster_client, slow_proxy, worker_via_proxy, tmp_path
):
    create_demo_warehouse(dagster_stack.warehouse_url)
    folder = tmp_path / "fault"
    make_demo_import("fault_sales", folder)
    shutil.copy(ROOT / "demo" / "sales_2024-01-01.csv", folder)
    assert dagster_client.reload_location().ok

    (run,) = services.import_run_launch(None, ["fault_sales"])
    assert slow_proxy.launch_forwarded.wait(timeout=60), "the worker never sent launchRun"
    children = psutil.Process(worker_via_proxy.pid).children()
    assert children, "no pool process to kill"
    for child in children:
        os.kill(child.pid, signal.SIGKILL)  # the task dies after Dagster launched, before we saved the id

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.dagster_run_id:
            break
        time.sleep(0.5)
    assert run.dagster_run_id, "the redelivered task never recorded the run"
    tagged = dagster_client.runs_with_tag("launchpad/import_run_id", str(run.pk))
    assert [r.run_id for r in tagged] == [run.dagster_run_id]
    assert slow_proxy.launches == 1
    assert ImportRun.objects.count() == 1
