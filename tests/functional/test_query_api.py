"""The query function through chalice.test.Client: routes, shapes and every error row."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
from chalice.test import Client

from lomas.domain import User
from lomas.services.tokens import hash_token
from lomas.testing.fakes import InMemoryStore
from tests.conftest import World

SQL = "SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM income"


def post(client: Client, path: str, body: object, token: str | None,
         headers: dict[str, str] | None = None):
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.http.post(path, headers=hdrs, body=raw)


def query(**extra: object) -> dict[str, object]:
    return {"dataset_name": "income", "query_str": SQL, "epsilon": 1.0, "delta": 1e-5, **extra}


def error(response) -> tuple[int, str]:
    body = response.json_body
    assert set(body) == {"type", "message"}
    assert "Traceback" not in body["message"]
    return response.status_code, body["type"]


def test_health(query_client: Client) -> None:
    response = query_client.http.get("/health")
    assert (response.status_code, response.json_body) == (200, {"status": "ok"})


def test_metadata_never_shows_access(query_client: Client, world: World) -> None:
    response = post(query_client, "/get_dataset_metadata", {"dataset_name": "income"}, world.token)
    assert response.status_code == 200
    assert set(response.json_body["columns"]) == {"region", "sex", "age", "education", "income"}
    assert "income.csv" not in response.body.decode()


def test_dummy_dataset_shape(query_client: Client, world: World) -> None:
    body = {"dataset_name": "income", "dummy_nb_rows": 20, "dummy_seed": 3}
    response = post(query_client, "/get_dummy_dataset", body, world.token)
    frame = pd.DataFrame.from_dict(response.json_body["dummy_df"], orient="tight")
    assert frame.shape == (20, 5)


def test_query_cost_budget_and_history(query_client: Client, world: World) -> None:
    cost = post(query_client, "/estimate_smartnoise_sql_cost", query(), world.token).json_body
    assert cost["epsilon"] == 3.0
    response = post(query_client, "/smartnoise_sql_query", query(), world.token)
    assert response.status_code == 200
    body = response.json_body
    assert (body["requested_by"], body["epsilon"], body["delta"]) == (
        "alice", cost["epsilon"], cost["delta"])
    assert body["result"]["type"] == "smartnoise_sql"
    frame = pd.DataFrame.from_dict(body["result"]["df"], orient="tight")
    assert list(frame.columns) == ["n", "avg_income"]
    name = {"dataset_name": "income"}
    assert post(query_client, "/get_initial_budget", name, world.token).json_body == {
        "initial_epsilon": 10.0, "initial_delta": 1e-3}
    spent = post(query_client, "/get_total_spent_budget", name, world.token).json_body
    assert spent == {"total_spent_epsilon": 3.0, "total_spent_delta": cost["delta"]}
    left = post(query_client, "/get_remaining_budget", name, world.token).json_body
    assert left["remaining_epsilon"] == pytest.approx(7.0)
    history = post(query_client, "/get_previous_queries", name, world.token).json_body
    [record] = history["previous_queries"]
    assert record["request"]["query_str"] == SQL and record["epsilon"] == 3.0


def test_dummy_query_is_free(query_client: Client, world: World) -> None:
    body = query(dummy_nb_rows=50, dummy_seed=1)
    response = post(query_client, "/dummy_smartnoise_sql_query", body, world.token)
    assert response.status_code == 200
    left = post(query_client, "/get_remaining_budget", {"dataset_name": "income"}, world.token)
    assert left.json_body["remaining_epsilon"] == 10.0


@pytest.mark.parametrize("body", [
    query(query_str="SELECT * FROM income"),
    query(query_str="SELECT COUNT(nope) AS n FROM income"),
    query(epsilon="lots"),
    query(epsilon=-1),
    query(delta=2),
    query(unknown_field=1),
    {"dataset_name": "income"},
    [1, 2, 3],
    "{not json",
    query(dataset_name="bad name!"),
    query(mechanisms={"count": "magic"}),
])
def test_400_invalid_query_before_any_spend(query_client: Client, world: World, body) -> None:
    response = post(query_client, "/smartnoise_sql_query", body, world.token)
    assert error(response) == (400, "InvalidQuery")
    assert world.store.get_grant("alice", "income").spent.epsilon == 0.0


def test_400_dummy_rows_over_limit(query_client: Client, world: World) -> None:
    body = {"dataset_name": "income", "dummy_nb_rows": 10**9}
    assert error(post(query_client, "/get_dummy_dataset", body, world.token)) == (
        400, "InvalidQuery")


@pytest.mark.parametrize("token", [None, "lomas_not-a-real-token"])
def test_401_unauthenticated(query_client: Client, token) -> None:
    response = post(query_client, "/get_dataset_metadata", {"dataset_name": "income"}, token)
    assert error(response) == (401, "Unauthenticated")


def test_401_wrong_scheme(query_client: Client, world: World) -> None:
    response = query_client.http.post("/get_dataset_metadata", body='{"dataset_name": "income"}',
                                      headers={"Authorization": f"Basic {world.token}",
                                               "Content-Type": "application/json"})
    assert error(response) == (401, "Unauthenticated")


def test_403_unknown_dataset_answers_like_a_dataset_without_grant(
        query_client: Client, world: World) -> None:
    from tests.support.data import write_income

    world.store.create_dataset(write_income(world.ctx.settings.resolved_data_root, "secret"))
    unknown = post(query_client, "/get_dataset_metadata", {"dataset_name": "nope"}, world.token)
    hidden = post(query_client, "/get_dataset_metadata", {"dataset_name": "secret"}, world.token)
    assert error(unknown) == error(hidden) == (403, "UnauthorizedAccess")
    assert unknown.json_body["message"].replace("nope", "X") == \
        hidden.json_body["message"].replace("secret", "X")


def test_403_disabled_user(query_client: Client, world: World) -> None:
    world.store.set_may_query("alice", False)
    response = post(query_client, "/smartnoise_sql_query", query(), world.token)
    assert error(response) == (403, "UnauthorizedAccess")


def test_403_budget_exhausted(query_client: Client, world: World) -> None:
    for _ in range(3):
        assert post(query_client, "/smartnoise_sql_query", query(), world.token).status_code == 200
    response = post(query_client, "/smartnoise_sql_query", query(), world.token)
    assert error(response) == (403, "BudgetExhausted")


def test_409_idempotency_key_reused_with_another_body(query_client: Client, world: World) -> None:
    key = {"Idempotency-Key": "abc"}
    first = post(query_client, "/smartnoise_sql_query", query(), world.token, key)
    again = post(query_client, "/smartnoise_sql_query", query(), world.token, key)
    assert first.status_code == again.status_code == 200
    assert first.json_body == again.json_body
    other = post(query_client, "/smartnoise_sql_query", query(epsilon=2.0), world.token, key)
    assert error(other) == (409, "Conflict")
    assert world.store.get_grant("alice", "income").spent.epsilon == 3.0


def test_413_body_over_the_limit(query_client: Client, world: World) -> None:
    big = query(query_str="SELECT COUNT(*) AS n FROM income " + " " * 30_000)
    assert error(post(query_client, "/smartnoise_sql_query", big, world.token)) == (
        413, "PayloadTooLarge")


def test_422_library_failure_after_the_charge(world: World, tmp_path) -> None:
    from dataclasses import replace

    from lomas.sources.cache import HandleCache
    from tests.conftest import _install
    from tests.unit.test_querying import ColumnDroppingSources

    ctx = replace(world.ctx, handles=HandleCache(ColumnDroppingSources(world.ctx.sources)))
    app, _ = _install(ctx)
    with Client(app) as client:
        response = post(client, "/smartnoise_sql_query", query(), world.token)
    assert error(response) == (422, "ExternalLibraryError")
    assert world.store.get_grant("alice", "income").spent.epsilon == 3.0


class ExplodingStore(InMemoryStore):
    def get_grant(self, user: str, dataset: str):
        raise RuntimeError("db password=hunter2 leaked in a driver message")


def test_500_is_generic_with_a_request_id_in_the_log(world: World, caplog) -> None:
    from dataclasses import replace

    from tests.conftest import _install

    store = ExplodingStore()
    store.create_user(User("alice"), hash_token(world.token))
    app, _ = _install(replace(world.ctx, store=store))
    with Client(app) as client, caplog.at_level(logging.ERROR):
        response = post(client, "/get_dataset_metadata", {"dataset_name": "income"}, world.token)
    assert error(response) == (500, "InternalServer")
    assert "hunter2" not in response.body.decode()
    request_id = response.headers["X-Request-Id"]
    assert request_id in response.json_body["message"]
    assert any(request_id in r.getMessage() for r in caplog.records)


def test_405_and_415_come_in_the_same_error_shape(query_client: Client, world: World) -> None:
    auth = {"Authorization": f"Bearer {world.token}"}
    wrong_method = query_client.http.get("/get_remaining_budget", headers=auth)
    assert error(wrong_method) == (405, "MethodNotAllowed")
    form = query_client.http.post(
        "/get_remaining_budget", body="dataset_name=income",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert error(form) == (415, "UnsupportedMediaType")
