"""Data sources for tests: moto's S3 server and a small HTTP file server on loopback."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


class Files:
    """What the HTTP server serves: path -> bytes, with ETags; special paths misbehave."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.slow_seconds = 3.0


def _handler(files: Files) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def _serve(self, body: bool) -> None:
            files.requests.append((self.command, self.path))
            if self.path == "/slow.csv":
                time.sleep(files.slow_seconds)
            if self.path == "/loop.csv":
                self.send_response(302)
                self.send_header("Location", "/loop.csv")
                self.end_headers()
                return
            if self.path.startswith("/needs-token/") and \
                    self.headers.get("Authorization") != "Bearer s3cr3t":
                self.send_response(401)
                self.end_headers()
                return
            data = files.files.get(self.path.replace("/needs-token", ""))
            if data is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", '"' + hashlib.md5(data).hexdigest() + '"')
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve(True)

        def do_HEAD(self) -> None:
            self._serve(False)

    return Handler


@contextmanager
def http_server() -> Iterator[tuple[str, Files]]:
    files = Files()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()
