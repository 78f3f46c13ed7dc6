"""A claim left by a process killed mid-query is recoverable: after its lease, a retry of
the same Idempotency-Key runs (or replays) without a second charge."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from lomas import demo
from lomas.domain import Dataset
from lomas_client import models as m

from tests.conftest import World
from tests.infra.conftest import ROOT
from tests.support.sources import csv_bytes

LEASE = 8.0


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
                    data.release.wait(60)
                self._head()
                with contextlib.suppress(OSError):  # the killed server's connection is gone
                    self.wfile.write(data.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/income.csv"


@pytest.fixture
def slow_data() -> Iterator[SlowData]:
    data = SlowData()
    yield data
    data.release.set()
    data.server.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(env: dict[str, str], url: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "functions.container.serve"], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not start")


@pytest.mark.slow
def test_a_server_killed_mid_query_then_a_retry_after_the_lease(
        mongo_world: World, embedded_uri: str, slow_data: SlowData, tmp_path: Path) -> None:
    store = mongo_world.store
    store.create_dataset(Dataset("remote", m.HttpAccess(url=slow_data.url),
                                 demo.income_metadata(500)))
    store.put_grant("alice", "remote", demo.RESEARCHER_BUDGET)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMAS_")}
    env.update(LOMAS_MONGODB_URL=embedded_uri,
               LOMAS_MONGODB_DB=store.users.database.name,  # type: ignore[attr-defined]
               LOMAS_PORT=str(port), LOMAS_STATE_DIR=str(tmp_path / "state"),
               LOMAS_CLAIM_LEASE_SECONDS=str(LEASE))
    body = {"dataset_name": "remote", "query_str": "SELECT COUNT(*) AS n FROM remote",
            "epsilon": 1.0, "delta": 1e-5}
    headers = {"Authorization": f"Bearer {mongo_world.token}", "Idempotency-Key": "kill-9"}

    def query() -> requests.Response:
        return requests.post(f"{url}/smartnoise_sql_query", json=body, headers=headers,
                             timeout=60)

    server = _start(env, url)
    try:
        cost = requests.post(f"{url}/estimate_smartnoise_sql_cost", json=body, headers=headers,
                             timeout=30).json()
        lost: list[BaseException] = []

        def lose() -> None:
            try:
                query()
            except requests.ConnectionError as exc:
                lost.append(exc)

        first = threading.Thread(target=lose)
        first.start()
        assert slow_data.started.wait(30), "the query never reached the data"
        server.send_signal(signal.SIGKILL)  # mid-query: charged, data being read
        server.wait(30)
        first.join(30)
        assert lost and isinstance(lost[0], requests.ConnectionError)
    finally:
        server.kill()
    grant = store.get_grant("alice", "remote")
    assert grant is not None and grant.spent.epsilon == pytest.approx(cost["epsilon"])
    pending = store.archives.find_one({"idempotency_key": "kill-9"})  # type: ignore[attr-defined]
    assert pending["status"] == "pending"
    slow_data.release.set()

    server = _start(env, url)
    try:
        early = query()
        if datetime.now(UTC) < pending["lease_until"].astimezone(UTC).replace(microsecond=0):
            assert early.status_code == 409, early.text  # still leased: it may be running
            time.sleep(max(0.0, (pending["lease_until"].astimezone(UTC)
                                 - datetime.now(UTC)).total_seconds()) + 0.5)
            retried = query()
        else:
            retried = early
        assert retried.status_code == 200, retried.text
        again = query()
        assert again.status_code == 200 and again.json() == retried.json()  # the stored answer
    finally:
        server.kill()
        server.wait(30)
    grant = store.get_grant("alice", "remote")
    assert grant is not None and grant.spent.epsilon == pytest.approx(cost["epsilon"])  # once
    archived = store.list_archives(user="alice", dataset="remote")
    assert [(r.idempotency_key, r.status) for r in archived] == [("kill-9", "done")]
    assert not store.charged("alice", "remote", "kill-9")
