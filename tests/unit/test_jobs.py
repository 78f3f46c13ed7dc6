"""The job service with runners that drop, fail or hold jobs: what is charged, when."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from lomas.domain import PrivacyCost, User
from lomas.engines import ENGINES
from lomas.errors import Conflict, NotFound
from lomas.services import jobs
from lomas.testing.fakes import InMemoryStore
from lomas_contract import models as m
from tests.conftest import World, make_world
from tests.unit.test_querying import req

SQL = ENGINES["smartnoise_sql"]

ALICE = User("alice")


class Held:
    """A runner that keeps the work; `run_all` runs it later, `drop` forgets it."""

    def __init__(self) -> None:
        self.work: dict[str, Callable[[], object]] = {}

    def dispatch(self, uid: str, work: Callable[[], object], *, fit: bool = False) -> None:
        self.work[uid] = work

    def run_all(self) -> None:
        for work in self.work.values():
            work()

    def wait(self, uid: str, seconds: float) -> tuple[bool, object]:
        return False, None


class Down:
    def dispatch(self, uid: str, work: Callable[[], object], *, fit: bool = False) -> None:
        raise RuntimeError("no runner")

    def wait(self, uid: str, seconds: float) -> tuple[bool, object]:
        return False, None


def spent(world: World) -> PrivacyCost:
    grant = world.store.get_grant("alice", "income")
    assert grant is not None
    return grant.spent


@pytest.fixture
def held(world: World) -> tuple[World, Held]:
    runner = Held()
    settings = world.ctx.settings.model_copy(update={"claim_lease_seconds": 0.5})
    world.ctx = replace(world.ctx, jobs=runner, settings=settings)
    return world, runner


def test_the_cost_is_spent_at_submit_and_the_runner_completes_the_job(held) -> None:
    world, runner = held
    job = jobs.submit(world.ctx, ALICE, SQL, req(), "k1", dummy=False)
    assert job.status == "in_progress" and job.charged
    cost = job.cost
    assert spent(world).epsilon == pytest.approx(cost.epsilon)
    runner.run_all()
    done = jobs.status(world.ctx, ALICE, job.uid)
    assert done.status == "complete" and done.result is not None
    assert m.QueryResponse.model_validate(done.result).requested_by == "alice"
    runner.run_all()  # a second delivery of the same job does nothing
    assert spent(world).epsilon == pytest.approx(cost.epsilon)
    assert jobs.submit(world.ctx, ALICE, SQL, req(), "k1", dummy=False).uid == job.uid
    with pytest.raises(Conflict):
        jobs.submit(world.ctx, ALICE, SQL, req("SELECT COUNT(*) AS c FROM income"), "k1",
                    dummy=False)


def test_a_job_no_runner_took_is_failed_after_its_lease_and_refunded(held) -> None:
    world, runner = held
    job = jobs.submit(world.ctx, ALICE, SQL, req(), "dropped", dummy=False)
    assert spent(world).epsilon > 0
    assert jobs.status(world.ctx, ALICE, job.uid).status == "in_progress"
    time.sleep(0.6)
    lapsed = jobs.status(world.ctx, ALICE, job.uid)
    assert (lapsed.status, lapsed.error) == ("failed", jobs.NOT_STARTED)
    assert spent(world) == PrivacyCost(0.0, 0.0)  # no data was read
    runner.run_all()  # a late delivery does not run it
    assert jobs.status(world.ctx, ALICE, job.uid).status == "failed"
    assert world.store.list_archives(user="alice") == []  # the claim was released


def test_a_job_that_cannot_be_dispatched_fails_at_once_refunded(world: World) -> None:
    world.ctx = replace(world.ctx, jobs=Down())
    job = jobs.submit(world.ctx, ALICE, SQL, req(), None, dummy=False)
    assert (job.status, job.error) == ("failed", jobs.NOT_STARTED)
    assert spent(world) == PrivacyCost(0.0, 0.0)


def test_a_dataset_deleted_before_the_run_fails_the_job_refunded(held) -> None:
    world, runner = held
    job = jobs.submit(world.ctx, ALICE, SQL, req(), "gone", dummy=False)
    world.store.delete_dataset("income")  # retired: its grant stays, but no one may query it
    runner.run_all()
    failed = jobs.status(world.ctx, ALICE, job.uid)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error["type"] == "UnauthorizedAccess"


def test_another_users_job_is_not_found(held) -> None:
    world, _ = held
    job = jobs.submit(world.ctx, ALICE, SQL, req(), None, dummy=False)
    with pytest.raises(NotFound):
        jobs.status(world.ctx, User("bob"), job.uid)
    assert jobs.status(world.ctx, User("root", is_admin=True), job.uid).uid == job.uid


def test_a_job_run_here_answers_its_waiter_without_reading_it_back(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from lomas.adapters.runners import ThreadRunner

    runner = ThreadRunner(2)
    world.ctx = replace(world.ctx, jobs=runner)
    reads: list[str] = []
    get_job = world.store.get_job
    monkeypatch.setattr(world.store, "get_job", lambda uid: reads.append(uid) or get_job(uid))
    job = jobs.submit(world.ctx, ALICE, SQL, req(), "k-here", dummy=False)
    done = jobs.await_job(world.ctx, job, 20)
    assert done.status == "complete" and done.result is not None
    assert reads == []  # the runner handed the recorded job over
    assert done == get_job(job.uid)  # and it is the job as the store has it
    late = jobs.submit(world.ctx, ALICE, SQL, req(), "k-late", dummy=False)
    time.sleep(0.5)  # it ends before anybody waits for it
    assert jobs.await_job(world.ctx, late, 20).status == "complete" and reads == []
    runner.shutdown()


class Syncs(InMemoryStore):
    """The fake store, counting its syncs."""

    def __init__(self) -> None:
        super().__init__()
        self.synced = 0

    def sync(self) -> None:
        self.synced += 1


def test_a_job_is_synced_before_a_202_tells_of_it_and_not_when_it_finished(
        tmp_path: Path) -> None:
    """Its begin did not wait for the disk; an unfinished job is about to be announced
    (202), so it is synced first. A finished one was synced by its end."""
    store = Syncs()
    world = make_world(store, tmp_path, PrivacyCost(10.0, 1e-3))
    runner = Held()
    world.ctx = replace(world.ctx, jobs=runner)
    job = jobs.submit_and_wait(world.ctx, ALICE, SQL, req(), "k1", dummy=False, wait=0)
    assert not job.finished and store.synced == 1
    runner.run_all()
    again = jobs.submit_and_wait(world.ctx, ALICE, SQL, req(), "k1", dummy=False, wait=0)
    assert again.uid == job.uid and again.finished and store.synced == 1
