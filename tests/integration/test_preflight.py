"""No charge for a query that cannot run: each new query shape runs on dummy data first."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from lomas.domain import Capability, User
from lomas.engines import ENGINES, Prepared
from lomas.errors import ExternalLibraryError, InvalidQuery
from lomas.services import querying
from lomas.services.preflight import PREFLIGHT
from lomas_contract.engines.opendp import OpenDPRequest
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlRequest
from tests.conftest import LiveServer, World

OPENDP = ENGINES["opendp"]
SQL = ENGINES["smartnoise_sql"]

BROKEN = "SELECT PI(), RAND(), POWER(AVG(age), 2) FROM income"


def post(server: LiveServer, path: str, body: dict) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, timeout=60,
                         headers={"Authorization": f"Bearer {server.world.token}"})


def test_a_query_that_fails_in_smartnoise_is_a_400_and_spends_nothing(
        live_server: LiveServer) -> None:
    body = {"dataset_name": "income", "query_str": BROKEN, "epsilon": 1.0, "delta": 1e-5}
    cost = post(live_server, "/estimate_smartnoise_sql_cost", body)
    assert cost.status_code == 200 and cost.json()["epsilon"] > 0  # SmartNoise costs it
    for _ in range(2):  # the second answer comes from the memo
        r = post(live_server, "/smartnoise_sql_query", body)
        assert r.status_code == 400, r.text
        assert r.json()["type"] == "InvalidQuery" and "nothing was charged" in r.json()["message"]
    grant = live_server.world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == 0 and grant.spent.delta == 0
    previous = post(live_server, "/get_previous_queries", {"dataset_name": "income"})
    assert previous.json()["previous_queries"] == []


def test_a_good_query_is_checked_once_then_runs(live_server: LiveServer) -> None:
    body = {"dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income",
            "epsilon": 0.5, "delta": 1e-5}
    runs = PREFLIGHT.runs
    assert post(live_server, "/smartnoise_sql_query", body).status_code == 200
    assert post(live_server, "/smartnoise_sql_query", body).status_code == 200
    other_epsilon = {**body, "epsilon": 0.25}  # the same shape: epsilon sets only the noise
    assert post(live_server, "/smartnoise_sql_query", other_epsilon).status_code == 200
    assert PREFLIGHT.runs <= runs + 1  # one dummy run for the shape, none for the repeats
    grant = live_server.world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == pytest.approx(1.25)


def test_an_opendp_pipeline_that_fails_on_dummy_data_spends_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is the query service's, the same for both engines."""

    def prepare(dataset, req) -> Prepared:
        def fail(*args: object) -> None:
            raise ExternalLibraryError("OpenDP failed: the pipeline cannot run")

        return Prepared(querying.PrivacyCost(1.0, 0.0), Capability.ROWS, run=fail)

    engine = replace(OPENDP, prepare=prepare)
    req = OpenDPRequest(dataset_name="income", opendp_json="{}")
    with pytest.raises(InvalidQuery, match="nothing was charged"):
        querying.run_query(world.ctx, User("alice"), engine, req, "opendp-key")
    grant = world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == 0
    assert world.store.list_archives(user="alice") == []


def test_a_failure_from_the_dummy_values_is_no_refusal(world) -> None:
    """A string column whose real values are digits: casting it fails on the dummy strings,
    not on the data. The preflight refuses only what fails because of the query."""
    from tests.support.data import codes_dataset

    codes_dataset(world, "codes", [str(i % 9) for i in range(500)])
    req = SmartnoiseSqlRequest(dataset_name="codes", epsilon=1.0, delta=1e-5,
                               query_str="SELECT COUNT(*) AS n FROM codes "
                                         "WHERE CAST(code AS INTEGER) > 4")
    answer = querying.run_query(world.ctx, User("alice"), SQL, req, "codes-1")
    assert abs(answer["result"]["df"]["data"][0][0] - 220) < 60
