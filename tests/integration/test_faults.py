"""Faults survived over HTTP, and the books checked after each: every charged query has
exactly one archive entry, and every grant's spent is the sum of its archived costs."""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
import requests

from lomas.adapters.mongo import MongoStore
from lomas.adapters.mongo.embedded import EmbeddedStore
from lomas.domain import PrivacyCost
from lomas.ports import StateStore
from tests.conftest import World, make_world
from tests.support.served import Served
from tests.support.slow_data import free_port

COST = 1.0  # SmartNoise prices one COUNT at the epsilon asked (and 1.5 x the delta)


def books(store: StateStore) -> None:
    """Each key archived once, done; the grant's spent is the sum of the archived costs."""
    archived = store.list_archives(user="alice", dataset="income")
    keys = [r.idempotency_key for r in archived]
    assert len(keys) == len(set(keys))
    grant = store.get_grant("alice", "income")
    assert grant is not None
    assert grant.spent.epsilon == pytest.approx(sum(r.cost.epsilon for r in archived))


class StandIn:
    """MongoDB's stand-in (a mongoeco wire server in this process) on a fixed port, so
    that it can go away and come back where the server expects it."""

    def __init__(self, path: Path) -> None:
        self.path, self.port = path, free_port()
        self.server: EmbeddedStore | None = None
        self.uri = self.start()

    def start(self) -> str:
        self.server = EmbeddedStore(self.path, port=self.port)
        return self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def mongoeco_world(tmp_path: Path) -> Iterator[tuple[World, Path, StandIn]]:
    stand_in = StandIn(tmp_path / "store.sqlite")
    store = MongoStore.connect(stand_in.uri, "lomas_faults", timeout_ms=2000)
    yield make_world(store, tmp_path, PrivacyCost(100.0, 1.0)), tmp_path, stand_in
    store.close()
    stand_in.stop()


@contextlib.contextmanager
def sqlite_locked(root: Path) -> Iterator[None]:
    """Another program holds the SQLite file's write lock (and its readers out)."""
    # Under load the servers' writers keep taking the lock: wait for it as long as needed.
    holder = sqlite3.connect(root / "lomas.sqlite3", isolation_level=None, timeout=60)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@contextlib.contextmanager
def stand_in_stopped(stand_in: StandIn) -> Iterator[None]:
    """The MongoDB stand-in's wire server stopped, then started again on its port."""
    stand_in.stop()
    try:
        yield
    finally:
        stand_in.start()


@dataclass
class Stored:
    """A world on one of the stores: its folder, the MongoDB URL its store is on (None:
    its SQLite file), and how that store goes away for a while."""

    world: World
    root: Path
    mongodb_url: str | None
    away: Callable[[], contextlib.AbstractContextManager[None]]


@pytest.fixture(params=["sqlite", "mongoeco"])
def any_world(request: pytest.FixtureRequest) -> Stored:
    if request.param == "sqlite":
        world, root = request.getfixturevalue("sqlite_world")
        return Stored(world, root, None, functools.partial(sqlite_locked, root))
    world, root, stand_in = request.getfixturevalue("mongoeco_world")
    return Stored(world, root, stand_in.uri, functools.partial(stand_in_stopped, stand_in))


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
def test_500_concurrent_queries_against_a_budget_of_100(any_world: Stored) -> None:
    world = any_world.world
    with Served(world, any_world.root, any_world.mongodb_url, workers="2",
                threads="16") as served, \
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
        with sqlite_locked(root):  # another program holds the store
            started = time.monotonic()
            refused = served.query("during", timeout=30)
            took = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.json()["type"] == "StoreUnavailable"
        assert int(refused.headers["Retry-After"]) >= 1
        assert took < 10, f"answered after {took:.1f} s"
        again = served.query("during")  # the same key, once the store is back: no restart
        assert again.status_code == 200, again.text
    books(world.store)
    assert {r.idempotency_key for r in world.store.list_archives()} == {"before", "during"}


class Answer(NamedTuple):
    status: int
    type: str
    retry_after: str | None
    took: float
    started: float


@pytest.mark.slow
def test_the_store_gone_mid_load_gives_503s_then_service_resumes(any_world: Stored) -> None:
    """Under load from 8 researchers' threads, the store goes away for 3 s: every answer is
    a 200 or a 503 StoreUnavailable with Retry-After (never a 500, none past the timeout).
    Once it is back, the same server answers the refused keys."""
    world = any_world.world
    world.store.put_grant("alice", "income", PrivacyCost(1e6, 1.0))  # never the limit here
    answers: dict[str, Answer] = {}
    stop = threading.Event()

    def load(thread: int) -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            key, started = f"load-{thread}-{i}", time.monotonic()
            answer = served.query(key, timeout=30)
            answers[key] = Answer(answer.status_code, answer.json().get("type", ""),
                                  answer.headers.get("Retry-After"),
                                  time.monotonic() - started, started)

    with Served(world, any_world.root, any_world.mongodb_url, store_timeout_seconds="1",
                claim_lease_seconds="2") as served, ThreadPoolExecutor(8) as pool:
        loads = [pool.submit(load, t) for t in range(8)]
        try:  # the load stops whatever happens, or the pool would wait for it forever
            deadline = time.monotonic() + 30  # the load is served (the workers warm) first
            while sum(a.status == 200 for a in list(answers.values())) < 16:
                assert time.monotonic() < deadline, "the load was never served"
                time.sleep(0.05)
            gone = time.monotonic()
            with any_world.away():
                time.sleep(3.0)
            back = time.monotonic()
            time.sleep(1.5)
        finally:
            stop.set()
        for future in loads:
            future.result()
        refused = sorted(k for k, a in answers.items() if a.status != 200)
        assert refused, "the store's absence should have refused some queries"
        assert {(a.status, a.type) for a in answers.values() if a.status != 200} == {
            (503, "StoreUnavailable")}, {(a.status, a.type) for a in answers.values()}
        assert all(int(answers[k].retry_after or 0) >= 1 for k in refused)
        slowest = max(a.took for a in answers.values())
        assert slowest < 10, f"an answer took {slowest:.1f} s"
        served_at = [a.started for a in answers.values() if a.status == 200]
        assert min(served_at) < gone and max(served_at) > back  # before, and again after
        deadline = time.monotonic() + 30  # a refused run's claim may hold its lease (2 s)
        while refused and time.monotonic() < deadline:
            refused = [k for k in refused if served.query(k).status_code != 200]
            time.sleep(0.5)
        assert not refused, f"{len(refused)} refused keys never answered"
    archived = world.store.list_archives(user="alice", dataset="income")
    assert sorted(r.idempotency_key for r in archived) == sorted(answers)
    assert all(r.status == "done" for r in archived)
    grant = world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == pytest.approx(len(answers) * COST)
    books(world.store)
