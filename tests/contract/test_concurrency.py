"""Concurrent spends never overdraw a grant: threads on every store, processes on SQLite."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lomas.adapters.sqlite import SqliteStore
from lomas.domain import Dataset, Grant, PrivacyCost, User
from lomas.ports import StateStore
from lomas_contract import models as m
from lomas_contract.sources.local import LocalAccess

COST = PrivacyCost(1.0, 0.0)
SPENDS, PROCESSES = 500, 4


def _setup(store: StateStore) -> None:
    meta = m.DatasetMetadata.model_validate(
        {"columns": {"x": {"type": "float", "lower": 0.0, "upper": 1.0}}})
    store.create_user(User("u"), "hash-u")
    store.create_dataset(Dataset("d", LocalAccess(path="d.csv"), meta))
    store.put_grant("u", "d", PrivacyCost(100.0, 0.0))


def _assert_spent_exactly_the_grant(store: StateStore, wins: int) -> None:
    assert wins == 100
    grant = store.get_grant("u", "d")
    assert grant is not None
    assert grant.spent == PrivacyCost(100.0, 0.0) and grant.remaining == PrivacyCost(0.0, 0.0)
    assert sum(store.charged("u", "d", f"k{i}") for i in range(SPENDS)) == 100


def test_500_spends_on_32_threads_spend_the_grant_exactly(any_store: StateStore) -> None:
    _setup(any_store)

    def spend(i: int) -> Grant | None:
        return any_store.spend("u", "d", COST, f"k{i}")

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(spend, range(SPENDS)))
    _assert_spent_exactly_the_grant(any_store, sum(r is not None for r in results))


def _spend_in_process(path: str, first: int, count: int, start: Any, wins: Any) -> None:
    store = SqliteStore(path)
    start.wait(60)
    wins.put(sum(store.spend("u", "d", COST, f"k{first + i}") is not None
                 for i in range(count)))
    store.close()


def test_500_spends_from_4_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "lomas.sqlite3"
    store = SqliteStore.open(path)
    _setup(store)
    spawn = multiprocessing.get_context("spawn")
    share = SPENDS // PROCESSES
    start, wins = spawn.Barrier(PROCESSES), spawn.Queue()
    workers = [spawn.Process(target=_spend_in_process,
                             args=(str(path), n * share, share, start, wins))
               for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    total = sum(wins.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    _assert_spent_exactly_the_grant(store, total)
    store.close()


def test_the_sqlite_file_is_in_wal_and_each_commit_reaches_the_disk(tmp_path: Path) -> None:
    """WAL (readers never wait for the writer), and synchronous=FULL: a spend or an outcome
    already released is never undone by a power failure."""
    store = SqliteStore.open(tmp_path / "lomas.sqlite3")
    try:
        db = store._db()  # the connection this thread's operations use
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()
