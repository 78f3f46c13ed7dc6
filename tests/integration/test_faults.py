"""Faults survived over HTTP, and the books checked after each: every charged query has
exactly one archive entry, and every grant's spent is the sum of its archived costs."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from lomas.adapters.sqlite import SqliteStore
from lomas.domain import PrivacyCost
from lomas.ports import StateStore
from tests.conftest import World, make_world
from tests.support.slow_data import free_port, start_server

BODY = {"dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income",
        "epsilon": 1.0, "delta": 1e-5}
COST = 1.0  # SmartNoise prices one COUNT at the epsilon asked (and 1.5 x the delta)


def books(store: StateStore) -> None:
    """Each key archived once, done; the grant's spent is the sum of the archived costs."""
    archived = store.list_archives(user="alice", dataset="income")
    keys = [r.idempotency_key for r in archived]
    assert len(keys) == len(set(keys))
    grant = store.get_grant("alice", "income")
    assert grant is not None
    assert grant.spent.epsilon == pytest.approx(sum(r.cost.epsilon for r in archived))


class Served:
    """`lomas-serve` in its own process group on a SQLite world's store."""

    def __init__(self, world: World, root: Path, **settings: str) -> None:
        self.world, self.url = world, f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LOMAS_")}
        self.env.update(LOMAS_STORE="sqlite", LOMAS_STATE_DIR=str(root),
                        LOMAS_DATA_ROOT=str(root / "data"), LOMAS_PORT=port,
                        LOMAS_QUERY_RATE="0", LOMAS_LOG_LEVEL="WARNING",
                        **{f"LOMAS_{k.upper()}": v for k, v in settings.items()})
        self.process: Any = None

    def start(self) -> None:
        self.process = start_server(self.env, self.url, session=True)

    def __enter__(self) -> Served:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the supervisor and its workers
            self.process.wait(30)

    def query(self, key: str, timeout: float = 60) -> requests.Response:
        return requests.post(f"{self.url}/smartnoise_sql_query", json=BODY, timeout=timeout,
                             headers={"Authorization": f"Bearer {self.world.token}",
                                      "Idempotency-Key": key})


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[tuple[World, Path]]:
    store = SqliteStore.open(tmp_path / "lomas.sqlite3")
    yield make_world(store, tmp_path, PrivacyCost(100.0, 1.0)), tmp_path
    store.close()


@pytest.mark.slow
def test_sigkill_mid_load_then_retries_charge_each_key_once(
        sqlite_world: tuple[World, Path]) -> None:
    world, root = sqlite_world
    served = Served(world, root, workers="2", claim_lease_seconds="3")
    keys = [f"kill-{i}" for i in range(50)]
    answered: list[str] = []

    def send(key: str) -> None:
        try:
            if served.query(key).status_code == 200:
                answered.append(key)
        except requests.RequestException:
            pass  # the server died under it

    with served, ThreadPoolExecutor(50) as pool:
        pool.map(send, keys)
        deadline = time.monotonic() + 60
        while len(answered) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        served.kill()
    assert 10 <= len(answered) < 50, "the kill should land in the middle of the load"
    with served:
        time.sleep(3.5)  # the leases of the killed runs end
        with ThreadPoolExecutor(16) as pool:
            retried = list(pool.map(served.query, keys))
    assert [r.status_code for r in retried] == [200] * 50, [r.text for r in retried
                                                            if r.status_code != 200][:3]
    archived = world.store.list_archives(user="alice", dataset="income")
    assert sorted(r.idempotency_key for r in archived) == sorted(keys)
    assert all(r.status == "done" for r in archived)
    grant = world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == pytest.approx(50 * COST)  # no double,
    books(world.store)                                                          # none lost


@pytest.mark.slow
def test_500_concurrent_queries_against_a_budget_of_100(
        sqlite_world: tuple[World, Path]) -> None:
    world, root = sqlite_world
    with Served(world, root, workers="2", threads="16") as served, \
            ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(lambda i: served.query(f"many-{i}").status_code, range(500)))
    assert codes.count(200) == 100
    assert set(codes) == {200, 403}, sorted(set(codes))  # the rest refused: budget exhausted
    grant = world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == pytest.approx(100 * COST)
    books(world.store)


@pytest.mark.slow
def test_the_store_locked_away_gives_503_with_retry_after_then_service_resumes(
        sqlite_world: tuple[World, Path]) -> None:
    world, root = sqlite_world
    with Served(world, root, workers="1", store_timeout_seconds="1") as served:
        assert served.query("before").status_code == 200
        holder = sqlite3.connect(root / "lomas.sqlite3", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another program holds the store
        try:
            started = time.monotonic()
            refused = served.query("during", timeout=30)
            took = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert refused.status_code == 503, refused.text
        assert refused.json()["type"] == "StoreUnavailable"
        assert int(refused.headers["Retry-After"]) >= 1
        assert took < 10, f"answered after {took:.1f} s"
        again = served.query("during")  # the same key, once the store is back: no restart
        assert again.status_code == 200, again.text
    books(world.store)
    assert {r.idempotency_key for r in world.store.list_archives()} == {"before", "during"}

