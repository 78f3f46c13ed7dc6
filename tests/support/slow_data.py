"""An HTTP dataset that hangs until released, and a Lomas server in a subprocess to kill."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from lomas import demo
from tests.conftest import World
from tests.support.sources import csv_bytes

ROOT = Path(__file__).resolve().parents[2]


class SlowData:
    """An HTTP dataset whose first download hangs until released (the server is killed then)."""

    def __init__(self) -> None:
        self.body = csv_bytes(demo.income_frame(500, seed=2))
        self.started, self.release = threading.Event(), threading.Event()
        self.gets = 0
        data = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _head(self) -> None:
                self.send_response(200)
                self.send_header("ETag", '"v1"')
                self.send_header("Content-Length", str(len(data.body)))
                self.end_headers()

            def do_HEAD(self) -> None:
                self._head()

            def do_GET(self) -> None:
                data.gets += 1
                if data.gets == 1:
                    data.started.set()
                    data.release.wait(120)
                self._head()
                with contextlib.suppress(OSError):  # the killed server's connection is gone
                    self.wfile.write(data.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/income.csv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(world: World, embedded_uri: str, port: int, state: Path,
               **settings: str) -> dict[str, str]:
    """A `lomas-serve` subprocess on `port`, sharing the test world's store (`settings`
    override, LOMAS_WORKERS included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMAS_")}
    env["LOMAS_WORKERS"] = "1"  # one process: a SIGKILL of it stops the server at once
    env.update(LOMAS_MONGODB_URL=embedded_uri,
               LOMAS_MONGODB_DB=world.store.users.database.name,  # type: ignore[attr-defined]
               LOMAS_PORT=str(port), LOMAS_STATE_DIR=str(state),
               **{f"LOMAS_{k.upper()}": v for k, v in settings.items()})
    return env


def start_server(env: dict[str, str], url: str,
                 session: bool = False) -> subprocess.Popen:
    """`lomas-serve` once it answers /health; `session`: in a process group of its own (with
    its workers), for os.killpg."""
    process = subprocess.Popen([sys.executable, "-m", "functions.container.serve"], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=session)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return process
        except requests.RequestException:  # listening already, its Context being built
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not start")
