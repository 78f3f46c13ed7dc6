"""A small fake of the Lambda Runtime API on loopback, for `python -m awslambdaric`.

It hands out the queued events on GET .../invocation/next (with the headers the
runtime client requires) and records what comes back.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


class FakeRuntimeApi:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.pending: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        for i, event in enumerate(events):
            self.pending.put((f"invoke-{i}", event))
        self.responses: dict[str, Any] = {}
        self.errors: dict[str, Any] = {}
        self.done = threading.Event()
        self._expected = len(events)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> FakeRuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, kind: str, invoke_id: str, body: Any) -> None:
        (self.responses if kind == "response" else self.errors)[invoke_id] = body
        if len(self.responses) + len(self.errors) >= self._expected:
            self.done.set()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    return self._send(404)
                try:
                    invoke_id, event = api.pending.get(timeout=30)
                except queue.Empty:
                    return self._send(500)
                deadline = int((time.time() + 60) * 1000)
                self._send(200, json.dumps(event).encode(), {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": invoke_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        "arn:aws:lambda:us-east-1:123456789012:function:lomas-query",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                })

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = self.path.removeprefix(PREFIX + "/").split("/")
                if parts[:1] == ["invocation"] and len(parts) == 3:
                    api._record(parts[2], parts[1], json.loads(body or b"null"))
                elif parts == ["init", "error"]:
                    api.errors["init"] = json.loads(body or b"null")
                    api.done.set()
                self._send(202, b"{}", {"Content-Type": "application/json"})

        return Handler
