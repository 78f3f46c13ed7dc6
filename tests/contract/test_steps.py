"""QuerySteps on every StateStore: `access`, `begin` and `end` reach every Outcome with the
same writes, whether composed of single operations or done in one transaction."""

from __future__ import annotations

import fcntl
import functools
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lomas.adapters.sqlite import SqliteStore
from lomas.domain import (
    ArchiveRecord,
    Begin,
    Dataset,
    Job,
    JobEnd,
    Outcome,
    PrivacyCost,
    RateWindow,
    User,
)
from lomas.errors import StoreUnavailable
from lomas.ports import StateStore
from lomas_contract import models as m
from lomas_contract.sources.local import LocalAccess

META = m.DatasetMetadata.model_validate(
    {"columns": {"x": {"type": "float", "lower": 0.0, "upper": 1.0}}})
COST = PrivacyCost(1.0, 1e-6)
NOW = datetime.now(UTC)
LEASE = timedelta(seconds=60)


def _setup(store: StateStore, budget: PrivacyCost = PrivacyCost(5.0, 1e-4)) -> Dataset:
    dataset = Dataset("d", LocalAccess(path="d.csv"), META)
    store.create_user(User("u"), "hash-u")
    store.create_dataset(dataset)
    store.put_grant("u", "d", budget)
    return dataset


def _step(key: str = "k", owner: str = "a", at: datetime = NOW, *, cost: PrivacyCost = COST,
          dataset: str = "d", rate: RateWindow | None = None, job: Job | None = None,
          record: bool = True) -> Begin:
    claim = ArchiveRecord("u", key, f"fp-{key}", dataset, "e", {"q": key}, cost=cost,
                          owner=owner, lease_until=at + LEASE) if record else None
    return Begin(at, claim, rate, job)


def _job(uid: str, key: str = "k") -> Job:
    return Job(uid=uid, user="u", idempotency_key=key, fingerprint=f"fp-{key}", kind="query",
               engine="e", dataset="d", request={"q": key}, cost=COST,
               lease_until=NOW + LEASE, expires_at=NOW + timedelta(days=1))


def _spent(store: StateStore) -> PrivacyCost:
    grant = store.get_grant("u", "d")
    assert grant is not None
    return grant.spent


def _free(store: StateStore, key: str) -> bool:
    """Whether nobody holds the key (claiming it to find out, then letting it go)."""
    free = store.claim(ArchiveRecord("u", key, "probe", "d", "e", {}, owner="probe")) is None
    if free:
        store.release("u", key, "probe")
    return free


def test_a_claimed_step_counts_claims_and_spends(any_store: StateStore) -> None:
    _setup(any_store)
    rate = RateWindow("u", 7, NOW + timedelta(minutes=1), limit=5)
    begun = any_store.begin(_step(rate=rate))
    assert (begun.outcome, begun.charged_now, begun.count) == (Outcome.CLAIMED, True, 1)
    assert _spent(any_store) == COST and any_store.charged("u", "d", "k")
    assert not _free(any_store, "k")
    assert any_store.begin(_step("k2", rate=rate)).count == 2  # the same window


def test_past_its_limit_a_step_only_counts(any_store: StateStore) -> None:
    _setup(any_store)
    rate = RateWindow("u", 7, NOW + timedelta(minutes=1), limit=1)
    assert any_store.begin(_step("k1", rate=rate)).outcome is Outcome.CLAIMED
    begun = any_store.begin(_step("k2", rate=rate, job=_job("j2", "k2")))
    assert (begun.outcome, begun.count) == (Outcome.LIMITED, 2)
    assert any_store.get_job("j2") is None and _free(any_store, "k2")
    assert _spent(any_store) == COST  # k1's only
    assert any_store.count_request("u", 7, rate.expires) == 3


def test_a_key_with_a_job_writes_nothing_else(any_store: StateStore) -> None:
    _setup(any_store)
    first = any_store.begin(_step(job=_job("j1")))
    assert first.outcome is Outcome.CLAIMED and first.charged_now
    job = any_store.get_job("j1")
    assert job is not None and job.charged  # this step spent its cost
    begun = any_store.begin(_step(owner="b", job=_job("j2")))
    assert begun.outcome is Outcome.JOB and begun.job is not None and begun.job.uid == "j1"
    assert any_store.get_job("j2") is None and _spent(any_store) == COST


def test_a_dummy_job_step_claims_and_charges_nothing(any_store: StateStore) -> None:
    _setup(any_store)
    begun = any_store.begin(_step(job=_job("j1"), record=False))
    assert (begun.outcome, begun.charged_now) == (Outcome.CLAIMED, False)
    job = any_store.get_job("j1")
    assert job is not None and not job.charged
    assert _spent(any_store) == PrivacyCost(0.0, 0.0) and _free(any_store, "k")


def test_a_finished_key_replays_its_outcome(any_store: StateStore) -> None:
    _setup(any_store)
    assert any_store.begin(_step()).outcome is Outcome.CLAIMED
    assert any_store.end("u", "k", status="done", cost=COST, response={"r": 1}, owner="a")
    later = NOW + 2 * LEASE
    begun = any_store.begin(_step(owner="b", at=later))
    assert begun.outcome is Outcome.REPLAY and begun.existing is not None
    assert (begun.existing.status, begun.existing.response) == ("done", {"r": 1})
    assert _spent(any_store) == COST


def test_a_running_key_replays_its_pending_claim(any_store: StateStore) -> None:
    _setup(any_store)
    assert any_store.begin(_step()).outcome is Outcome.CLAIMED
    begun = any_store.begin(_step(owner="b", at=NOW + LEASE / 2))
    assert begun.outcome is Outcome.REPLAY and begun.existing is not None
    assert (begun.existing.status, begun.existing.owner) == ("pending", "a")
    assert _spent(any_store) == COST


def test_a_retry_after_the_lease_takes_over_without_charging_again(
        any_store: StateStore) -> None:
    _setup(any_store)
    assert any_store.begin(_step()).charged_now
    begun = any_store.begin(_step(owner="b", at=NOW + LEASE + timedelta(seconds=1)))
    assert (begun.outcome, begun.charged_now) == (Outcome.CLAIMED, False)
    assert _spent(any_store) == COST
    assert not any_store.end("u", "k", status="done", cost=COST, owner="a")  # the dead run
    assert any_store.end("u", "k", status="done", cost=COST, response={"r": 2}, owner="b")
    assert not any_store.charged("u", "d", "k")


def test_an_exhausted_grant_releases_the_claim_and_charges_nothing(
        any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(0.5, 1e-4))
    begun = any_store.begin(_step(job=_job("j1")))
    assert (begun.outcome, begun.charged_now) == (Outcome.EXHAUSTED, False)
    assert _spent(any_store) == PrivacyCost(0.0, 0.0) and not any_store.charged("u", "d", "k")
    assert _free(any_store, "k")
    job = any_store.get_job("j1")  # stays, for the caller to record its outcome
    assert job is not None and not job.charged and job.status == "in_progress"


def test_no_grant_releases_the_claim(any_store: StateStore) -> None:
    _setup(any_store)
    assert any_store.delete_grant("u", "d")
    begun = any_store.begin(_step())
    assert begun.outcome is Outcome.NO_GRANT and not begun.charged_now
    assert _free(any_store, "k") and any_store.get_grant("u", "d") is None


def test_end_records_the_archive_and_the_job_in_one_call(any_store: StateStore) -> None:
    _setup(any_store)
    assert any_store.begin(_step(job=_job("j1"))).outcome is Outcome.CLAIMED
    keep = NOW + timedelta(days=2)
    assert not any_store.end("u", "k", status="done", cost=COST, owner="other",
                             job=JobEnd("j1", keep))
    job = any_store.get_job("j1")
    assert job is not None and job.status == "in_progress"  # untouched: nothing recorded
    assert any_store.end("u", "k", status="done", cost=COST, response={"r": 1}, owner="a",
                         job=JobEnd("j1", keep))
    [record] = any_store.list_archives(user="u", dataset="d")
    assert (record.status, record.response, record.cost) == ("done", {"r": 1}, COST)
    job = any_store.get_job("j1")
    assert job is not None and (job.status, job.result) == ("complete", {"r": 1})
    assert not any_store.charged("u", "d", "k")


def test_a_failed_end_fails_the_job(any_store: StateStore) -> None:
    _setup(any_store)
    any_store.begin(_step(job=_job("j1")))
    error = {"type": "InvalidQuery", "message": "no"}
    assert any_store.end("u", "k", status="failed", cost=COST, error=error, owner="a",
                         job=JobEnd("j1", NOW + timedelta(days=2)))
    job = any_store.get_job("j1")
    assert job is not None and (job.status, job.result, job.error) == ("failed", None, error)


def test_access_reads_the_active_dataset_and_the_grant(any_store: StateStore) -> None:
    dataset = _setup(any_store)
    found = any_store.access("u", "d")
    assert found is not None and found[0] == dataset
    assert found[1] == any_store.get_grant("u", "d")
    assert any_store.access("u", "nope") is None
    any_store.create_user(User("v"), "hash-v")
    assert any_store.access("v", "d") is None  # no grant
    assert any_store.delete_dataset("d")
    assert any_store.access("u", "d") is None  # retired: its grant stays, unqueryable


def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "missing" / "lomas.sqlite3")
    with pytest.raises(StoreUnavailable):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.get_user("u")


def _commits(store: SqliteStore, step: Callable[[], object]) -> list[str]:
    """The synchronous level of each COMMIT that `step` made on this thread's connection,
    read from SQLite's own trace of the statements run."""
    levels, current = [], ["FULL"]

    def trace(sql: str) -> None:
        if sql.startswith("PRAGMA synchronous = "):
            current[0] = sql.rsplit(" ", 1)[1]
        elif sql == "COMMIT":
            levels.append(current[0])

    db = store._db()  # the connection this thread's operations use
    db.set_trace_callback(trace)
    try:
        step()
    finally:
        db.set_trace_callback(None)
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # left at FULL
    return levels


def test_only_a_commit_before_a_release_waits_for_the_disk(tmp_path: Path) -> None:
    """A query's begin and a job's take do not wait for the disk: the end that follows
    each before an answer leaves syncs the WAL with them (a job's 202 leaves after a
    `sync`). Its end and an admin's writes wait."""
    store = SqliteStore.open(tmp_path / "lomas.sqlite3")
    try:
        assert _commits(store, lambda: _setup(store)) == ["FULL"] * 3
        assert _commits(store, lambda: store.begin(_step("k1"))) == ["NORMAL"]
        end = functools.partial(store.end, "u", status="done", cost=COST, owner="a")
        assert _commits(store, lambda: end("k1", response={"r": 1})) == ["FULL"]
        assert _commits(store, lambda: store.begin(_step("k2", job=_job("j2", "k2")))) \
            == ["NORMAL"]  # its 202 leaves after a sync
        assert _commits(store, lambda: store.take_job("j2", NOW)) == ["NORMAL"]
        assert _commits(store, lambda: end("k2", job=JobEnd("j2", NOW + LEASE))) == ["FULL"]
        store.sync()  # the WAL, fdatasync'd
    finally:
        store.close()


def test_a_writer_that_holds_its_turn_makes_the_others_unavailable_not_stuck(
        tmp_path: Path) -> None:
    """Writers queue on an flock beside the file; one that keeps it (a stopped worker)
    makes the others' writes StoreUnavailable after the timeout, and reads go on."""
    store = SqliteStore.open(tmp_path / "lomas.sqlite3", timeout_s=0.5)
    _setup(store)
    other = os.open(tmp_path / "lomas.sqlite3.writer", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)  # another process's turn, kept
        with pytest.raises(StoreUnavailable):
            store.put_grant("u", "d", PrivacyCost(9.0, 1e-4))
        assert store.get_grant("u", "d") is not None  # reads never wait
        fcntl.flock(other, fcntl.LOCK_UN)
        store.put_grant("u", "d", PrivacyCost(9.0, 1e-4))
        grant = store.get_grant("u", "d")
        assert grant is not None and grant.initial == PrivacyCost(9.0, 1e-4)
    finally:
        os.close(other)
        store.close()
