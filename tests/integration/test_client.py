"""The real lomas_client against the real apps in-process (WSGI transport adapter)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from functions.container.serve import create_wsgi
from lomas.domain import PrivacyCost
from lomas_client import (
    BudgetExhaustedError,
    Client,
    InvalidQueryError,
    UnauthenticatedError,
    UnauthorizedAccessError,
)
from tests.conftest import World
from tests.integration.conftest import IN_PROCESS
from tests.support.wsgi_transport import session_for

URL = IN_PROCESS


def test_the_readme_flow(client: Client) -> None:
    before = client.get_remaining_budget()
    cost = client.smartnoise_sql.cost("SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM income",
                                      epsilon=1.0, delta=1e-5)
    frame = client.smartnoise_sql.query(
        "SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM income", epsilon=1.0, delta=1e-5)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["n", "avg_income"]
    after = client.get_remaining_budget()
    assert after["remaining_epsilon"] == pytest.approx(before["remaining_epsilon"] - cost.epsilon)
    assert after["remaining_delta"] == pytest.approx(before["remaining_delta"] - cost.delta)
    assert client.get_total_spent_budget()["total_spent_epsilon"] == cost.epsilon
    assert client.get_initial_budget() == {"initial_epsilon": 10.0, "initial_delta": 1e-3}
    assert len(client.get_previous_queries()) == 1


def test_previous_queries_are_a_frame_with_running_totals(client: Client) -> None:
    count = "SELECT COUNT(*) AS n FROM income"
    first = client.smartnoise_sql.cost(count, epsilon=1.0, delta=1e-5)
    client.smartnoise_sql.query(count, epsilon=1.0, delta=1e-5)
    second = client.smartnoise_sql.cost(count, epsilon=0.5, delta=1e-5)
    client.smartnoise_sql.query(count, epsilon=0.5, delta=1e-5)
    history = client.get_previous_queries()
    assert list(history.columns) == ["time", "engine", "query", "epsilon", "delta", "outcome",
                                     "spent_epsilon", "spent_delta"]
    assert list(history["query"]) == [count, count]
    assert list(history["engine"]) == ["smartnoise_sql"] * 2
    assert list(history["outcome"]) == ["done"] * 2
    assert list(history["epsilon"]) == [first.epsilon, second.epsilon]
    assert list(history["spent_epsilon"]) == pytest.approx(
        [first.epsilon, first.epsilon + second.epsilon])
    assert history["spent_delta"].iloc[-1] == pytest.approx(first.delta + second.delta)
    assert history["time"].is_monotonic_increasing and str(history["time"].dt.tz) == "UTC"
    assert history["spent_epsilon"].iloc[-1] == pytest.approx(
        client.get_total_spent_budget()["total_spent_epsilon"])
    [record, _] = client.get_previous_query_records()
    assert record["request"]["query_str"] == count and record["idempotency_key"]


def test_cost_says_its_accuracy_at_the_alpha_asked(client: Client, world: World) -> None:
    import opendp.prelude as dp

    query = "SELECT COUNT(*) AS n, AVG(income) AS a FROM income"
    cost = client.smartnoise_sql.cost(query, epsilon=1.0, delta=1e-5, alpha=0.1)
    assert cost.accuracy is not None and cost.accuracy.alpha == 0.1
    assert cost.describe() == (f"ε 3, δ {cost.delta:.4g}; at 90% confidence COUNT(*) "
                               "within ±2.303, AVG(income) not available")
    assert client.smartnoise_sql.cost(query, 1.0, 1e-5).accuracy.alpha == 0.05  # type: ignore[union-attr]
    count = client.opendp.context(dp.loss_of(epsilon=1.0)).query().select(dp.len())
    opendp_cost = client.opendp.cost(count, alpha=0.1)
    assert opendp_cost.accuracy is not None
    assert opendp_cost.accuracy.columns[0].bound == pytest.approx(
        count.summarize(alpha=0.1)["accuracy"][0])
    assert "len (Frame Length) within ±" in opendp_cost.describe()
    synth = client.smartnoise_synth.cost("mwem", epsilon=1.0, select_cols=["sex"], alpha=0.2)
    assert synth.describe() == "ε 1, δ 0; accuracy not available for SmartNoise-Synth"
    assert world.store.get_grant("alice", "income").spent == PrivacyCost(0.0, 0.0)


def test_metadata_and_dummy(client: Client) -> None:
    metadata = client.get_dataset_metadata()
    assert metadata["columns"]["age"] == {"type": "int", "nullable": False, "lower": 18,
                                          "upper": 90, "private_id": False}
    dummy = client.get_dummy_dataset(nb_rows=30, seed=1)
    assert dummy.shape == (30, 5) and str(dummy["age"].dtype) == "int64"
    pd.testing.assert_frame_equal(dummy, client.get_dummy_dataset(nb_rows=30, seed=1))
    free = client.smartnoise_sql.query("SELECT COUNT(*) AS n FROM df", 1.0, 1e-5, dummy=True,
                                       nb_rows=200)
    assert list(free.columns) == ["n"]
    assert client.get_total_spent_budget()["total_spent_epsilon"] == 0.0


def test_errors_become_exceptions(client: Client, world: World) -> None:
    with pytest.raises(InvalidQueryError):
        client.smartnoise_sql.query("SELECT * FROM df", 1.0, 1e-5)
    with pytest.raises(BudgetExhaustedError):
        client.smartnoise_sql.query("SELECT COUNT(*) AS n FROM df", 11.0, 1e-5)
    other = Client(URL, world.token, "nope", session=session_for(create_wsgi(world.ctx)))
    with pytest.raises(UnauthorizedAccessError):
        other.get_dataset_metadata()
    anonymous = Client(URL, "lomas_wrong", "income", session=session_for(create_wsgi(world.ctx)))
    with pytest.raises(UnauthenticatedError) as info:
        anonymous.get_remaining_budget()
    assert info.value.status == 401


def test_get_datasets_lists_the_active_datasets_granted_with_their_budget(
        world: World) -> None:
    session = session_for(create_wsgi(world.ctx))
    store = world.store
    for name in ("census", "retired", "not_granted"):
        store.create_dataset(replace(store.get_dataset("income"), name=name))
    store.put_grant("alice", "census", PrivacyCost(2.0, 1e-5))
    store.put_grant("alice", "retired", PrivacyCost(2.0, 1e-5))
    assert store.delete_dataset("retired")
    lister = Client(URL, world.token, session=session)  # no dataset needed to list them
    Client(URL, world.token, "income", session=session).smartnoise_sql.query(
        "SELECT COUNT(*) AS n FROM income", epsilon=1.0, delta=1e-5)
    datasets = lister.get_datasets()
    assert list(datasets["dataset_name"]) == ["census", "income"]
    census, income = datasets.to_dict("records")
    assert census == {"dataset_name": "census", "initial_epsilon": 2.0, "initial_delta": 1e-5,
                      "spent_epsilon": 0.0, "spent_delta": 0.0, "remaining_epsilon": 2.0,
                      "remaining_delta": 1e-5}
    assert income["spent_epsilon"] == 1.0
    assert income["remaining_epsilon"] == pytest.approx(9.0)
    with pytest.raises(TypeError, match="no dataset"):
        lister.get_remaining_budget()
    with pytest.raises(TypeError, match="no dataset"):
        lister.smartnoise_sql.query("SELECT COUNT(*) AS n FROM income", 1.0, 1e-5)
