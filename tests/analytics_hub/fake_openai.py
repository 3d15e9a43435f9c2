"""A local OpenAI-compatible chat server for tests: fixed answers, recorded requests, no network.

    with FakeOpenAI(["SELECT 1"]) as server:
        client = server.client()                      # an openai.OpenAI pointed at the server
        ...                                           # or set OPENAI_BASE_URL=server.base_url
        assert server.requests[0].body["model"] == "gpt-4o-mini"

Replies are served in order; each is a string (the assistant's content), a :class:`FakeReply` (HTTP status,
error message, delay), or the whole list is replaced by a function of the request body. When the replies run
out the server answers HTTP 500 so a test notices the extra call.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclass(frozen=True)
class FakeReply:
    """One answer: ``content`` with HTTP 200, or an error ``status`` with ``message``; ``delay_s`` before answering."""

    content: str = ""
    status: int = 200
    message: str = "fake error"
    delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    def text(self) -> str:
        """All message contents joined, for "the prompt mentioned X" assertions."""
        return "\n".join(str(message.get("content", "")) for message in self.messages)


Responder = Callable[[dict[str, Any]], "str | FakeReply"]


class FakeOpenAI:
    """Serve ``POST /v1/chat/completions`` on 127.0.0.1 (free port) from a thread; a context manager."""

    def __init__(self, replies: Iterable[str | FakeReply] | Responder = ()) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.set_replies(replies)

    def set_replies(self, replies: Iterable[str | FakeReply] | Responder) -> None:
        """Replace what the server answers from now on (a list served in order, or a function of the body)."""
        with self._lock:
            if callable(replies):
                self._responder: Responder | None = replies
                self._queue: list[str | FakeReply] = []
            else:
                self._responder = None
                self._queue = list(replies)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running; use it as a context manager or call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def client(self, *, api_key: str = "sk-test-fake", **options: Any):
        """An ``openai.OpenAI`` client for this server, without retries unless asked."""
        import openai

        options.setdefault("max_retries", 0)
        options.setdefault("timeout", 10.0)
        return openai.OpenAI(api_key=api_key, base_url=self.base_url, **options)

    def start(self) -> FakeOpenAI:
        if self._server is not None:
            return self
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_reply(self, body: dict[str, Any]) -> FakeReply:
        with self._lock:
            if self._responder is not None:
                reply = self._responder(body)
            elif self._queue:
                reply = self._queue.pop(0)
            else:
                reply = FakeReply(status=500, message="FakeOpenAI has no reply left for this request")
        return FakeReply(content=reply) if isinstance(reply, str) else reply

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # the name http.server dispatches to
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            if path not in CHAT_PATHS:
                self._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                return
            fake._record(RecordedRequest(path=path, headers=dict(self.headers.items()), body=body))
            reply = fake._next_reply(body)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.status != 200:
                self._send(reply.status, {"error": {"message": reply.message, "type": "server_error", "code": None}})
                return
            self._send(200, _completion(body, reply.content, len(fake.requests)))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout); nothing left to answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _completion(body: dict[str, Any], content: str, number: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
