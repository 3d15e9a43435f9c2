"""Anomaly alerts against a local webhook: delivered as JSON, retried on 5xx, never raised, address never echoed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from analytics_hub.ml.alerts import post_alert


class Webhook:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.bodies.append(json.loads(body))
            status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_port}/hooks/secret-token"
    finally:
        server.shutdown()
        server.server_close()


def test_an_alert_is_posted_as_json(webhook):
    hook, url = webhook

    outcome = post_alert(url, {"event": "new_anomalies", "anomalies": [{"period": "2024-01-02", "score": 7.5}]})

    assert outcome.delivered and outcome.attempts == 1 and outcome.status == 200
    assert hook.bodies == [{"event": "new_anomalies", "anomalies": [{"period": "2024-01-02", "score": 7.5}]}]


def test_server_errors_are_retried_then_delivered(webhook):
    hook, url = webhook
    hook.statuses = [503, 500]

    outcome = post_alert(url, {"n": 1}, backoff_s=0)

    assert outcome.delivered and outcome.attempts == 3
    assert len(hook.bodies) == 3


def test_a_client_error_is_not_retried_and_reported_without_the_address(webhook):
    hook, url = webhook
    hook.statuses = [404]

    outcome = post_alert(url, {"n": 1}, backoff_s=0)

    assert (outcome.delivered, outcome.attempts, outcome.status) == (False, 1, 404)
    assert "secret-token" not in outcome.error and "404" in outcome.error


def test_an_unreachable_webhook_gives_up_quietly_after_the_attempts():
    outcome = post_alert("http://127.0.0.1:1/hook?token=secret-token", {"n": 1}, attempts=2, backoff_s=0, timeout_s=1)

    assert (outcome.delivered, outcome.attempts) == (False, 2)
    assert "could not be reached" in outcome.error and "secret-token" not in outcome.error
