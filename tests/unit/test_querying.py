"""The charged-run flow: claim, atomic spend, one execution, refund rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from lomas.data.handles import FrameHandle
from lomas.domain import Dataset, PrivacyCost, User
from lomas.engines import ENGINES
from lomas.errors import BudgetExhausted, Conflict, DatasetUnavailable, ExternalLibraryError
from lomas.services import querying
from lomas.sources.cache import HandleCache
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlDummyRequest, SmartnoiseSqlRequest
from tests.conftest import World

SQL = ENGINES["smartnoise_sql"]

ALICE = User("alice")
QUERY = "SELECT COUNT(*) AS n, AVG(income) AS a FROM income"


def req(query: str = QUERY) -> SmartnoiseSqlRequest:
    return SmartnoiseSqlRequest(dataset_name="income", query_str=query, epsilon=1.0, delta=1e-5)


def remaining(world: World) -> PrivacyCost:
    grant = world.store.get_grant("alice", "income")
    assert grant is not None
    return grant.remaining


class BrokenSources:
    """Sources whose dataset is down."""

    def version(self, dataset: Dataset) -> str:
        return "v"

    def open(self, dataset: Dataset) -> FrameHandle:
        raise DatasetUnavailable("Dataset 'income' is unavailable.")


class ColumnDroppingSources:
    """Sources opening a table without a declared column: snsql fails."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def version(self, dataset: Dataset) -> str:
        return self.inner.version(dataset)

    def open(self, dataset: Dataset) -> FrameHandle:
        frame = self.inner.open(dataset).frame().drop(columns=["income"])
        return FrameHandle(frame, dataset.name)


def test_query_charges_the_computed_cost_and_archives(world: World) -> None:
    before = remaining(world)
    out = querying.run_query(world.ctx, ALICE, SQL, req(), "key-1")
    assert out["epsilon"] == 3.0
    assert remaining(world).epsilon == pytest.approx(before.epsilon - 3.0)
    [record] = world.store.list_archives(user="alice")
    assert record.status == "done" and record.response == out and record.cost.epsilon == 3.0


def test_same_key_replays_without_a_second_charge(world: World) -> None:
    first = querying.run_query(world.ctx, ALICE, SQL, req(), "key-1")
    after_first = remaining(world)
    assert querying.run_query(world.ctx, ALICE, SQL, req(), "key-1") == first
    assert remaining(world) == after_first
    assert world.ctx.handles.stats.loads == 1


def test_same_key_other_body_is_a_conflict(world: World) -> None:
    querying.run_query(world.ctx, ALICE, SQL, req(), "key-1")
    with pytest.raises(Conflict, match="different request"):
        querying.run_query(world.ctx, ALICE, SQL, req("SELECT COUNT(*) AS n FROM df"),
                                      "key-1")


def test_duplicate_while_running_neither_runs_nor_charges(world: World) -> None:
    from lomas.domain import ArchiveRecord

    body = req().model_dump(mode="json")
    print_ = querying.fingerprint("smartnoise_sql", body)
    world.store.claim(ArchiveRecord("alice", "key-1", print_, "income", "smartnoise_sql", body))
    before = remaining(world)
    with pytest.raises(Conflict, match="still running"):
        querying.run_query(world.ctx, ALICE, SQL, req(), "key-1")
    assert remaining(world) == before
    assert world.ctx.handles.stats.loads == 0


def test_budget_exhausted_charges_nothing_and_archives_nothing(world: World) -> None:
    world.store.put_grant("alice", "income", PrivacyCost(2.0, 1e-3))
    with pytest.raises(BudgetExhausted):
        querying.run_query(world.ctx, ALICE, SQL, req(), None)
    assert remaining(world) == PrivacyCost(2.0, 1e-3)
    assert world.store.list_archives() == []


def test_refund_when_the_data_could_not_be_read(world: World) -> None:
    ctx = replace(world.ctx, handles=HandleCache(BrokenSources()))
    with pytest.raises(DatasetUnavailable):
        querying.run_query(ctx, ALICE, SQL, req(), "key-1")
    assert remaining(world) == PrivacyCost(10.0, 1e-3)
    # the key was released: a retry once the source is back runs normally
    assert querying.run_query(world.ctx, ALICE, SQL, req(), "key-1")["epsilon"] == 3.0


def test_no_refund_once_the_engine_ran(world: World) -> None:
    ctx = replace(world.ctx, handles=HandleCache(ColumnDroppingSources(world.ctx.sources)))
    with pytest.raises(ExternalLibraryError):
        querying.run_query(ctx, ALICE, SQL, req(), "key-1")
    assert remaining(world).epsilon == pytest.approx(7.0)
    [record] = world.store.list_archives()
    assert record.status == "failed" and record.error["type"] == "ExternalLibraryError"
    with pytest.raises(ExternalLibraryError):  # a retry replays the failure, uncharged
        querying.run_query(ctx, ALICE, SQL, req(), "key-1")
    assert remaining(world).epsilon == pytest.approx(7.0)


def test_dummy_query_is_free_and_not_archived(world: World) -> None:
    dummy = SmartnoiseSqlDummyRequest(**req().model_dump(), dummy_nb_rows=300, dummy_seed=1)
    out = querying.run_dummy_query(world.ctx, ALICE, SQL, dummy)
    assert out["result"]["df"]["columns"] == ["n", "a"]
    assert remaining(world) == PrivacyCost(10.0, 1e-3)
    assert world.store.list_archives() == []
    assert world.ctx.handles.stats.loads == 0  # the private data was never read


def test_concurrent_retries_of_one_key_charge_once(world: World) -> None:
    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(
            lambda _: _attempt(world), range(10)))
    assert remaining(world).epsilon == pytest.approx(7.0)
    assert len(world.store.list_archives()) == 1
    assert all(o in ("ok", "Conflict") for o in outcomes) and "ok" in outcomes


def _attempt(world: World) -> str:
    try:
        querying.run_query(world.ctx, ALICE, SQL, req(), "same-key")
        return "ok"
    except Conflict:
        return "Conflict"
