"""A per-user query rate limit across instances: 429 with Retry-After, nothing spent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from functions.common.wiring import build_context
from lomas.adapters.mongo import MongoStore
from lomas.domain import PrivacyCost, User
from lomas.engines import ENGINES
from lomas.errors import RateLimited
from lomas.services import querying
from lomas_client import Client
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlCostRequest
from tests.conftest import LiveServer, make_world, serve

SMARTNOISE_SQL = ENGINES["smartnoise_sql"]

SQL = "SELECT COUNT(*) AS n FROM income"
LIMIT = {"query_rate": 1.0, "query_burst": 3}  # 3 queries per 3-second window


@pytest.fixture
def limited(mongo_store: MongoStore, tmp_path: Path) -> Iterator[LiveServer]:
    world = make_world(mongo_store, tmp_path, PrivacyCost(10.0, 1e-3), **LIMIT)
    yield from serve(world)


def _query(server: LiveServer, key: str) -> requests.Response:
    return requests.post(f"{server.url}/smartnoise_sql_query", timeout=60,
                         headers={"Authorization": f"Bearer {server.world.token}",
                                  "Idempotency-Key": key},
                         json={"dataset_name": "income", "query_str": SQL, "epsilon": 0.5,
                               "delta": 1e-5})


def _fresh_window() -> None:
    """Start at the beginning of a window, so that the test's requests share one."""
    span = LIMIT["query_burst"] / LIMIT["query_rate"]
    time.sleep(span - time.time() % span + 0.05)


def test_over_the_limit_a_query_is_a_429_with_retry_after_and_spends_nothing(
        limited: LiveServer) -> None:
    _fresh_window()
    assert [_query(limited, f"k{i}").status_code for i in range(3)] == [200, 200, 200]
    refused = _query(limited, "k3")
    assert refused.status_code == 429
    assert refused.json()["type"] == "RateLimited" and set(refused.json()) == {"type", "message"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 3
    grant = limited.world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == pytest.approx(1.5)  # three queries
    keys = [r.idempotency_key for r in limited.world.store.list_archives(user="alice")]
    assert sorted(keys) == ["k0", "k1", "k2"]


def test_the_client_waits_and_retries_with_the_same_key(limited: LiveServer) -> None:
    _fresh_window()
    client = Client(limited.url, limited.world.token, "income")
    for _ in range(3):
        client.smartnoise_sql.cost(SQL, epsilon=0.5, delta=1e-5)
    started = time.monotonic()
    frame = client.smartnoise_sql.query(SQL, epsilon=0.5, delta=1e-5)  # 429, wait, retry
    assert time.monotonic() - started >= 0.9 and list(frame.columns) == ["n"]
    grant = limited.world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == pytest.approx(0.5)  # charged once
    assert len(limited.world.store.list_archives(user="alice")) == 1


def test_the_limit_holds_across_instances(mongo_store: MongoStore, embedded_uri: str,
                                          tmp_path: Path) -> None:
    """Two instances: two contexts, each with its own connection to the same database."""
    world = make_world(mongo_store, tmp_path, PrivacyCost(10.0, 1e-3), **LIMIT)
    second = MongoStore.connect(embedded_uri, mongo_store.users.database.name)
    instances = [world.ctx, build_context(world.ctx.settings, store=second)]
    request = SmartnoiseSqlCostRequest(dataset_name="income", query_str=SQL, epsilon=1.0,
                                         delta=1e-5)
    _fresh_window()
    outcomes = []
    for ctx in instances + instances:
        try:
            querying.estimate_cost(ctx, User("alice"), SMARTNOISE_SQL, request)
            outcomes.append("ok")
        except RateLimited as exc:
            outcomes.append(f"429 after {exc.retry_after}s")
    second.close()
    assert outcomes[:3] == ["ok", "ok", "ok"] and outcomes[3].startswith("429")
