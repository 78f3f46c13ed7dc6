"""Real HTTP on loopback: waitress + both apps + mongoeco's wire server."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from lomas.domain import PrivacyCost
from lomas_client import Client
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlCostRequest
from tests.conftest import LiveServer, World, serve

SQL = "SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM income"
BODY = {"dataset_name": "income", "query_str": SQL, "epsilon": 1.0, "delta": 1e-5}


def _fit_exactly(world: World, times: int) -> PrivacyCost:
    from lomas.engines.smartnoise_sql import execution as smartnoise_sql

    dataset = world.store.get_dataset("income")
    cost = smartnoise_sql.estimate_cost("income", dataset.metadata,
                                        SmartnoiseSqlCostRequest(**BODY))
    world.store.put_grant("alice", "income", PrivacyCost(cost.epsilon * times, cost.delta * times))
    return cost


def _post(server: LiveServer, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {server.world.token}"}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(server.url + "/smartnoise_sql_query", json=BODY, headers=headers,
                         timeout=60)


def test_50_threads_against_a_grant_that_fits_10(live_server: LiveServer) -> None:
    world = live_server.world
    cost = _fit_exactly(world, 10)
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda _: _post(live_server, str(uuid.uuid4())), range(50)))
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 10
    assert [r.json()["type"] for r in responses if r.status_code != 200] == ["BudgetExhausted"] * 40
    grant = world.store.get_grant("alice", "income")
    assert grant.spent.epsilon == pytest.approx(10 * cost.epsilon)
    assert grant.spent.delta == pytest.approx(10 * cost.delta)
    assert grant.remaining.epsilon >= 0 and grant.remaining.delta >= 0
    assert len(world.store.list_archives(user="alice")) == 10


def test_10_retries_of_one_key_are_charged_once(live_server: LiveServer) -> None:
    world = live_server.world
    cost = _fit_exactly(world, 10)
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: _post(live_server, "one-key"), range(10)))
    ok = [r for r in responses if r.status_code == 200]
    assert ok and all(r.json() == ok[0].json() for r in ok)
    assert all(r.json()["type"] == "Conflict" for r in responses if r.status_code != 200)
    assert world.store.get_grant("alice", "income").spent.epsilon == pytest.approx(cost.epsilon)
    assert len(world.store.list_archives(user="alice")) == 1
    late = _post(live_server, "one-key")  # once done, a retry gets the stored answer
    assert late.status_code == 200 and late.json() == ok[0].json()


def test_the_client_retries_a_lost_answer_with_the_same_key(mongo_world: World) -> None:
    seen: list[str] = []

    def lose_first_answer(app):
        def middleware(environ, start_response):
            if environ["PATH_INFO"] != "/smartnoise_sql_query":
                return app(environ, start_response)
            seen.append(environ.get("HTTP_IDEMPOTENCY_KEY", ""))
            body = b"".join(app(environ, lambda *a: None))  # the query runs and is charged
            if len(seen) == 1:
                start_response("503 Service Unavailable", [("Content-Type", "application/json"),
                                                           ("Retry-After", "0")])
                return [json.dumps({"type": "StoreUnavailable", "message": "lost"}).encode()]
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]

        return middleware

    for server in serve(mongo_world, lose_first_answer):
        client = Client(server.url, mongo_world.token, "income")
        frame = client.smartnoise_sql.query(SQL, epsilon=1.0, delta=1e-5)
        assert list(frame.columns) == ["n", "avg_income"]
    assert len(seen) == 2 and seen[0] == seen[1] and seen[0]
    assert mongo_world.store.get_grant("alice", "income").spent.epsilon == pytest.approx(3.0)


def test_unknown_route_and_oversized_body(live_server: LiveServer) -> None:
    missing = requests.get(live_server.url + "/nope", timeout=10)
    assert missing.status_code == 404 and missing.json()["type"] == "NotFound"
    too_big = b"x" * (live_server.world.ctx.settings.max_body_bytes + 1)
    huge = requests.post(live_server.url + "/smartnoise_sql_query", data=too_big,
                         headers={"Authorization": f"Bearer {live_server.world.token}",
                                  "Content-Type": "application/json"}, timeout=10)
    assert huge.status_code == 413
