"""A claim left by a process killed mid-query is recoverable: after its lease, a retry of
the same Idempotency-Key runs (or replays) without a second charge."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from lomas import demo
from lomas.domain import Dataset
from lomas_contract.sources.http import HttpAccess
from tests.conftest import World
from tests.support.slow_data import SlowData, free_port, server_env, start_server

LEASE = 8.0


@pytest.mark.slow
def test_a_server_killed_mid_query_then_a_retry_after_the_lease(
        mongo_world: World, embedded_uri: str, slow_data: SlowData, tmp_path: Path) -> None:
    store = mongo_world.store
    store.create_dataset(Dataset("remote", HttpAccess(url=slow_data.url),
                                 demo.income_metadata(500)))
    store.put_grant("alice", "remote", demo.RESEARCHER_BUDGET)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(mongo_world, embedded_uri, port, tmp_path / "state",
                     claim_lease_seconds=str(LEASE))
    body = {"dataset_name": "remote", "query_str": "SELECT COUNT(*) AS n FROM remote",
            "epsilon": 1.0, "delta": 1e-5}
    headers = {"Authorization": f"Bearer {mongo_world.token}", "Idempotency-Key": "kill-9"}

    def query() -> requests.Response:
        return requests.post(f"{url}/smartnoise_sql_query", json=body, headers=headers,
                             timeout=60)

    server = start_server(env, url)
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

    server = start_server(env, url)
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
