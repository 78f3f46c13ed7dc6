"""One contract, every StateStore: the fake, mongoeco's wire server, real MongoDB."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from lomas.domain import ArchiveRecord, Dataset, Job, PrivacyCost, User
from lomas.errors import Conflict
from lomas.ports import StateStore
from lomas_contract import models as m
from lomas_contract.sources.local import LocalAccess
from tests.support.data import write_income

META = m.DatasetMetadata.model_validate(
    {"columns": {"x": {"type": "float", "lower": 0.0, "upper": 1.0}}}
)


def _dataset(name: str = "d") -> Dataset:
    return Dataset(name, LocalAccess(path=f"{name}.csv"), META)


def _setup(store: StateStore, budget: PrivacyCost) -> None:
    store.create_user(User("u"), "hash-u")
    store.create_dataset(_dataset())
    store.put_grant("u", "d", budget)


def test_users_round_trip(any_store: StateStore) -> None:
    any_store.create_user(User("bob", is_admin=True), "h1")
    with pytest.raises(Conflict):
        any_store.create_user(User("bob"), "h2")
    assert any_store.get_user("bob") == User("bob", True, True)
    assert any_store.find_user_by_token_hash("h1") == (User("bob", True, True), "h1")
    assert any_store.find_user_by_token_hash("h2") is None
    assert any_store.set_token_hash("bob", "h3")
    assert any_store.find_user_by_token_hash("h1") is None
    assert any_store.set_may_query("bob", False)
    assert any_store.get_user("bob") == User("bob", True, False)
    assert [u.name for u in any_store.list_users()] == ["bob"]
    assert not any_store.set_may_query("nobody", True)
    assert any_store.delete_user("bob") and not any_store.delete_user("bob")


def test_datasets_round_trip(any_store: StateStore, tmp_path) -> None:
    dataset = write_income(tmp_path)
    any_store.create_dataset(dataset)
    with pytest.raises(Conflict):
        any_store.create_dataset(dataset)
    assert any_store.get_dataset("income") == dataset
    assert any_store.list_datasets() == ["income"]
    assert any_store.delete_dataset("income")
    assert any_store.get_dataset("income") is None


def test_grant_changes_keep_spent_and_refuse_going_below_it(any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(5.0, 1e-4))
    assert any_store.spend("u", "d", PrivacyCost(2.0, 1e-5)) is not None
    grant = any_store.put_grant("u", "d", PrivacyCost(8.0, 2e-4))
    assert grant.initial == PrivacyCost(8.0, 2e-4)
    assert grant.spent == PrivacyCost(2.0, 1e-5)
    assert grant.remaining.epsilon == pytest.approx(6.0)
    assert grant.remaining.delta == pytest.approx(1.9e-4)
    with pytest.raises(Conflict):
        any_store.put_grant("u", "d", PrivacyCost(1.0, 2e-4))
    assert any_store.get_grant("u", "d") == grant


def test_a_top_up_adds_to_initial_and_remaining_and_keeps_spent(any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(5.0, 1e-4))
    assert any_store.spend("u", "d", PrivacyCost(2.0, 1e-5)) is not None
    grant = any_store.top_up_grant("u", "d", PrivacyCost(1.5, 1e-5))
    assert grant is not None and grant == any_store.get_grant("u", "d")
    assert grant.initial.epsilon == pytest.approx(6.5)
    assert grant.initial.delta == pytest.approx(1.1e-4)
    assert grant.spent == PrivacyCost(2.0, 1e-5)
    assert grant.remaining.epsilon == pytest.approx(4.5)
    assert grant.remaining.delta == pytest.approx(1e-4)
    assert any_store.top_up_grant("u", "other", PrivacyCost(1.0, 0.0)) is None
    with pytest.raises(Conflict):
        any_store.top_up_grant("u", "d", PrivacyCost(1.0, 0.99999))
    assert any_store.get_grant("u", "d") == grant


def test_top_ups_racing_spends_lose_nothing(any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(10.0, 0.0))
    with ThreadPoolExecutor(8) as pool:
        spends = [pool.submit(any_store.spend, "u", "d", PrivacyCost(1.0, 0.0))
                  for _ in range(30)]
        ups = [pool.submit(any_store.top_up_grant, "u", "d", PrivacyCost(1.0, 0.0))
               for _ in range(10)]
        charged = sum(f.result() is not None for f in spends)
        assert all(f.result() is not None for f in ups)
    grant = any_store.get_grant("u", "d")
    assert grant is not None
    assert grant.initial.epsilon == pytest.approx(20.0)
    assert grant.spent.epsilon == pytest.approx(charged)
    assert grant.remaining.epsilon == pytest.approx(20.0 - charged)
    assert charged >= 10


def test_spend_charges_both_parts_or_nothing(any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(3.0, 1e-5))
    assert any_store.spend("u", "d", PrivacyCost(1.0, 2e-5)) is None  # delta short
    assert any_store.spend("u", "d", PrivacyCost(4.0, 0.0)) is None  # epsilon short
    assert any_store.spend("nobody", "d", PrivacyCost(1.0, 0.0)) is None
    grant = any_store.get_grant("u", "d")
    assert grant is not None and grant.spent == PrivacyCost(0.0, 0.0)
    after = any_store.spend("u", "d", PrivacyCost(3.0, 1e-5))
    assert after is not None and after.remaining == PrivacyCost(0.0, 0.0)
    any_store.refund("u", "d", PrivacyCost(1.0, 0.0))
    grant = any_store.get_grant("u", "d")
    assert grant is not None and grant.remaining.epsilon == pytest.approx(1.0)


def test_spend_is_atomic_under_50_threads(any_store: StateStore) -> None:
    cost = PrivacyCost(3.0, 1.4999949999983109e-05)
    _setup(any_store, PrivacyCost(cost.epsilon * 10, cost.delta * 10))
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: any_store.spend("u", "d", cost), range(50)))
    assert sum(r is not None for r in results) == 10
    grant = any_store.get_grant("u", "d")
    assert grant is not None
    assert grant.spent.epsilon == pytest.approx(30.0)
    assert grant.remaining.epsilon >= 0 and grant.remaining.delta >= 0


def test_claim_admits_one_request_per_key(any_store: StateStore) -> None:
    record = ArchiveRecord("u", "k1", "fp", "d", "smartnoise_sql", {"q": 1})
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: any_store.claim(record), range(10)))
    assert results.count(None) == 1
    assert all(r is not None and r.fingerprint == "fp" for r in results if r is not None)
    assert any_store.list_archives() == []  # pending records are not listed
    any_store.finish("u", "k1", status="done", cost=PrivacyCost(1.0, 0.0), response={"r": 1})
    [done] = any_store.list_archives(user="u", dataset="d")
    assert (done.status, done.response, done.cost) == ("done", {"r": 1}, PrivacyCost(1.0, 0.0))
    any_store.release("u", "k1")  # a finished record is never released
    assert len(any_store.list_archives()) == 1
    assert any_store.claim(ArchiveRecord("u", "k2", "fp", "d", "e", {})) is None
    any_store.release("u", "k2")
    assert any_store.claim(ArchiveRecord("u", "k2", "fp", "d", "e", {})) is None


def test_a_retired_dataset_keeps_its_grants_and_resumes_them(any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(5.0, 1e-4))
    any_store.claim(ArchiveRecord("u", "k", "fp", "d", "e", {}))
    any_store.finish("u", "k", status="done", cost=PrivacyCost(2.0, 1e-5))
    assert any_store.spend("u", "d", PrivacyCost(2.0, 1e-5)) is not None
    assert any_store.delete_dataset("d")
    assert not any_store.delete_dataset("d")  # retired already
    assert not any_store.delete_dataset("ghost")
    assert any_store.get_dataset("d") is None and any_store.list_datasets() == []
    assert any_store.access("u", "d") is None  # it cannot be queried
    kept = any_store.get_grant("u", "d")
    assert kept is not None and kept.spent == PrivacyCost(2.0, 1e-5)
    assert [g.dataset for g in any_store.list_grants("u")] == ["d"]
    assert len(any_store.list_archives(dataset="d")) == 1
    assert any_store.list_dataset_records() == [(_dataset(), True)]

    moved = Dataset("d", LocalAccess(path="moved.csv"), META.model_copy(update={"max_ids": 2}))
    any_store.create_dataset(moved)  # the same name: the same privacy unit, resumed
    assert any_store.get_dataset("d") == moved and any_store.list_datasets() == ["d"]
    assert any_store.list_dataset_records() == [(moved, False)]
    assert any_store.get_grant("u", "d") == kept
    found = any_store.access("u", "d")
    assert found is not None and found[1].remaining == kept.remaining
    with pytest.raises(Conflict):
        any_store.create_dataset(moved)  # active again


def test_a_deleted_user_leaves_their_grants_to_a_new_user_of_that_name(
        any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(5.0, 0.0))
    assert any_store.spend("u", "d", PrivacyCost(3.0, 0.0)) is not None
    assert any_store.delete_user("u")
    assert any_store.get_user("u") is None and any_store.find_user_by_token_hash("hash-u") is None
    kept = any_store.get_grant("u", "d")
    assert kept is not None and kept.spent == PrivacyCost(3.0, 0.0)
    any_store.create_user(User("u"), "hash-new")
    assert any_store.get_grant("u", "d") == kept


def test_records_for_an_export_hold_every_user_and_dataset(any_store: StateStore) -> None:
    any_store.create_user(User("zoe", is_admin=True), "hz")
    any_store.create_user(User("amy", may_query=False), "ha")
    for name in ("b", "a", "c"):
        any_store.create_dataset(_dataset(name))
    assert any_store.delete_dataset("c")
    assert any_store.list_user_records() == [(User("amy", False, False), "ha"),
                                             (User("zoe", True, True), "hz")]
    assert any_store.list_dataset_records() == [(_dataset("a"), False), (_dataset("b"), False),
                                                (_dataset("c"), True)]
    assert any_store.list_datasets() == ["a", "b"]


def test_datasets_written_before_retiring_existed_are_active(mongo_store) -> None:
    """A database written before the `retired` field: its datasets are active, and
    registering one of their names again is still a Conflict."""
    from lomas.adapters.mongo import documents as docs

    old = {k: v for k, v in docs.dataset_doc(_dataset()).items() if k != docs.RETIRED}
    mongo_store.datasets.insert_one(old)
    assert mongo_store.get_dataset("d") == _dataset()
    assert mongo_store.list_datasets() == ["d"]
    with pytest.raises(Conflict):
        mongo_store.create_dataset(_dataset())
    assert mongo_store.delete_dataset("d") and mongo_store.get_dataset("d") is None
    mongo_store.create_dataset(_dataset())
    assert mongo_store.get_dataset("d") == _dataset()


def test_a_key_is_charged_once_and_refunded_once(any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(5.0, 1e-3))
    cost = PrivacyCost(1.0, 1e-5)
    assert any_store.spend("u", "d", cost, "k") is not None
    assert any_store.spend("u", "d", cost, "k") is None  # the same key: not charged again
    assert any_store.charged("u", "d", "k") and not any_store.charged("u", "d", "other")
    assert any_store.get_grant("u", "d").spent == cost  # type: ignore[union-attr]
    any_store.refund("u", "d", cost, "k")
    any_store.refund("u", "d", cost, "k")  # once only
    grant = any_store.get_grant("u", "d")
    assert grant is not None and grant.spent.epsilon == pytest.approx(0.0)
    assert not any_store.charged("u", "d", "k")


def test_concurrent_spends_of_one_key_charge_once(any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(50.0, 1e-3))
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: any_store.spend("u", "d", PrivacyCost(1.0, 0.0), "k"),
                                range(20)))
    assert sum(r is not None for r in results) == 1
    assert any_store.get_grant("u", "d").spent.epsilon == pytest.approx(1.0)  # type: ignore[union-attr]


def test_finishing_forgets_the_key_on_the_grant(any_store: StateStore) -> None:
    _setup(any_store, PrivacyCost(5.0, 0.0))
    assert any_store.claim(ArchiveRecord("u", "k", "fp", "d", "e", {}, owner="a")) is None
    any_store.spend("u", "d", PrivacyCost(1.0, 0.0), "k")
    assert any_store.finish("u", "k", status="done", cost=PrivacyCost(1.0, 0.0), owner="a")
    assert not any_store.charged("u", "d", "k")
    assert not any_store.finish("u", "k", status="done", cost=PrivacyCost(1.0, 0.0), owner="a")


def test_a_claim_whose_lease_ended_is_taken_over_once(any_store: StateStore) -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lease = timedelta(seconds=60)

    def record(owner: str, at: datetime, fp: str = "fp") -> ArchiveRecord:
        return ArchiveRecord("u", "k", fp, "d", "e", {}, owner=owner, lease_until=at + lease)

    assert any_store.claim(record("first", t0), t0) is None
    held = any_store.claim(record("second", t0), t0 + timedelta(seconds=30))
    assert held is not None and held.owner == "first"  # still leased: Conflict upstream
    late = t0 + timedelta(seconds=61)
    other = any_store.claim(record("other", late, fp="another request"), late)
    assert other is not None and other.owner == "first"  # another body never takes it over
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda i: any_store.claim(record(f"r{i}", late), late),
                                range(5)))
    assert results.count(None) == 1  # exactly one retry takes it over
    assert not any_store.finish("u", "k", status="done", cost=PrivacyCost(0.0, 0.0),
                                owner="first")  # the dead run cannot record an outcome
    winner = next(f"r{i}" for i, r in enumerate(results) if r is None)
    assert any_store.finish("u", "k", status="done", cost=PrivacyCost(0.0, 0.0), owner=winner)
    assert [r.status for r in any_store.list_archives(user="u")] == ["done"]


def _job(uid: str, key: str = "k1", lease: float = 60.0, **fields: object) -> Job:
    now = datetime.now(UTC)
    fields.setdefault("user", "alice")
    return Job(uid=uid, idempotency_key=key, fingerprint="f1", kind="query",
               engine="smartnoise_sql", dataset="income", request={"q": 1},
               cost=PrivacyCost(1.0, 1e-6), lease_until=now + timedelta(seconds=lease),
               expires_at=now + timedelta(days=1), **fields)  # type: ignore[arg-type]


def test_one_key_is_one_job_even_under_20_threads(any_store: StateStore) -> None:
    with ThreadPoolExecutor(20) as pool:
        found = list(pool.map(lambda i: any_store.create_job(_job(f"uid-{i}")), range(20)))
    assert found.count(None) == 1
    winner = next(f"uid-{i}" for i, f in enumerate(found) if f is None)
    assert {f.uid for f in found if f is not None} == {winner}
    job = any_store.get_job(winner)
    assert job is not None and (job.user, job.status, job.charged) == ("alice", "in_progress",
                                                                       False)
    assert job.request == {"q": 1} and job.cost == PrivacyCost(1.0, 1e-6)
    assert any_store.get_job("nope") is None
    assert any_store.create_job(_job("other-user-same-key", user="bob")) is None  # type: ignore[arg-type]


def test_a_job_is_started_once_and_finished_once(any_store: StateStore) -> None:
    any_store.create_job(_job("j1"))
    any_store.mark_job_charged("j1")
    now = datetime.now(UTC)
    with ThreadPoolExecutor(10) as pool:
        taken = list(pool.map(lambda _: any_store.start_job("j1", now), range(10)))
    assert sum(t is not None for t in taken) == 1
    started = next(t for t in taken if t is not None)
    assert started.started and started.charged
    later = now + timedelta(days=2)
    assert any_store.finish_job("j1", status="complete", expires_at=later, result={"r": 1})
    assert not any_store.finish_job("j1", status="failed", expires_at=later,
                                    error={"type": "InternalServer", "message": "x"})
    job = any_store.get_job("j1")
    assert job is not None and (job.status, job.result, job.error) == ("complete", {"r": 1},
                                                                      None)
    assert any_store.expire_job("j1", later, {"type": "t", "message": "m"}, later) is None


def test_the_jobs_in_progress_are_listed_oldest_lease_first(any_store: StateStore) -> None:
    any_store.create_job(_job("late", key="k1", lease=120.0))
    any_store.create_job(_job("early", key="k2", lease=30.0, user="bob"))
    any_store.create_job(_job("done", key="k3"))
    assert any_store.finish_job("done", status="complete", expires_at=datetime.now(UTC)
                                + timedelta(days=1), result={"r": 1})
    jobs = any_store.list_jobs_in_progress()
    assert [(j.uid, j.user, j.status) for j in jobs] == [
        ("early", "bob", "in_progress"), ("late", "alice", "in_progress")]


def test_only_a_lapsed_job_in_progress_expires_and_then_cannot_start(
        any_store: StateStore) -> None:
    any_store.create_job(_job("j2", key="k2", lease=-1.0))
    any_store.create_job(_job("j3", key="k3", lease=60.0))
    now = datetime.now(UTC)
    assert any_store.start_job("j2", now) is None  # its lease is over: no runner may take it
    error, keep = {"type": "InternalServer", "message": "lost"}, now + timedelta(days=1)
    assert any_store.expire_job("j3", now, error, keep) is None  # still leased
    before = any_store.expire_job("j2", now, error, keep)
    assert before is not None and before.status == "in_progress" and not before.started
    assert any_store.expire_job("j2", now, error, keep) is None  # once
    job = any_store.get_job("j2")
    assert job is not None and (job.status, job.error) == ("failed", error)


def test_archives_and_jobs_written_before_the_user_key_still_hold_their_keys(
        mongo_store) -> None:
    """A store written by an earlier version (two-field unique index, no user_key) is
    upgraded by ensure_indexes: its keys still replay, and the old index is gone."""
    from lomas.adapters.mongo import documents as docs

    store = mongo_store
    for collection in (store.archives, store.jobs):
        collection.drop_index(f"{docs.USER_KEY}_1")
        collection.create_index([("user_name", 1), ("idempotency_key", 1)], unique=True)
    record = ArchiveRecord("u", "k", "fp", "d", "e", {})
    old_archive = {k: v for k, v in docs.archive_doc(record).items() if k != docs.USER_KEY}
    store.archives.insert_one(old_archive)
    job = _job("j1", key="k")
    store.jobs.insert_one({k: v for k, v in docs.job_doc(job).items() if k != docs.USER_KEY})

    store.ensure_indexes()

    for collection in (store.archives, store.jobs):
        names = collection.index_information()
        assert "user_name_1_idempotency_key_1" not in names and f"{docs.USER_KEY}_1" in names
    held = store.claim(ArchiveRecord("u", "k", "fp", "d", "e", {}, owner="new"))
    assert held is not None and held.idempotency_key == "k"  # the old claim holds the key
    existing = store.create_job(_job("j2", key="k"))
    assert existing is not None and existing.uid == "j1"  # one key, one job
    assert store.claim(ArchiveRecord("u", "k2", "fp", "d", "e", {})) is None
