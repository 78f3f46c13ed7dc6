"""The admin function through chalice.test.Client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

from lomas.domain import Job, PrivacyCost
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlRequest
from tests.conftest import World
from tests.functional.test_query_api import error, post, query


def call(client: Client, method: str, path: str, token: str | None, body: object = None,
         content_type: str = "application/json"):
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, str) or body is None else json.dumps(body)
    return getattr(client.http, method.lower())(path, headers=headers, body=raw or "")


def test_user_lifecycle_and_token_rotation(admin_client: Client, world: World) -> None:
    t = world.admin_token
    created = call(admin_client, "POST", "/admin/users", t, {"user_name": "bob"})
    assert created.status_code == 201
    token = created.json_body["token"]
    assert len(token) >= 43 and token not in json.dumps(
        call(admin_client, "GET", "/admin/users", t).json_body)
    assert world.store.find_user_by_token_hash(token) is None  # only a hash is stored
    assert call(admin_client, "GET", "/admin/users/bob", t).json_body == {
        "user_name": "bob", "is_admin": False, "may_query": True}
    patched = call(admin_client, "PATCH", "/admin/users/bob", t, {"may_query": False})
    assert patched.json_body["may_query"] is False
    rotated = call(admin_client, "POST", "/admin/users/bob/token", t).json_body["token"]
    assert rotated != token
    assert call(admin_client, "GET", "/admin/users", token).status_code == 401
    assert call(admin_client, "DELETE", "/admin/users/bob", t).status_code == 204
    assert error(call(admin_client, "GET", "/admin/users/bob", t)) == (404, "NotFound")


def test_dataset_registration_and_grants(admin_client: Client, world: World) -> None:
    t = world.admin_token
    metadata = world.store.get_dataset("income").metadata.model_dump(exclude_none=True)
    body = {"dataset_name": "income2", "dataset_access": {"type": "local", "path": "income.csv"},
            "metadata": metadata}
    assert call(admin_client, "POST", "/admin/datasets", t, body).status_code == 201
    assert error(call(admin_client, "POST", "/admin/datasets", t, body)) == (409, "Conflict")
    listed = call(admin_client, "GET", "/admin/datasets", t).json_body
    assert listed == {"datasets": ["income", "income2"]}
    grant = call(admin_client, "PUT", "/admin/grants/alice/income2", t,
                 {"initial_epsilon": 2.0, "initial_delta": 1e-4})
    assert grant.json_body["remaining_epsilon"] == 2.0
    assert call(admin_client, "GET", "/admin/grants/alice/income2", t).status_code == 200
    listed = call(admin_client, "GET", "/admin/grants?user_name=alice", t).json_body["grants"]
    assert [(g["dataset_name"], g["initial_epsilon"]) for g in listed] == [
        ("income", 10.0), ("income2", 2.0)]
    assert call(admin_client, "GET", "/admin/grants?user_name=nobody", t).json_body == {
        "grants": []}
    assert call(admin_client, "DELETE", "/admin/grants/alice/income2", t).status_code == 200
    assert error(call(admin_client, "DELETE", "/admin/grants/bob/income2", t)) == (
        404, "NotFound")
    assert call(admin_client, "DELETE", "/admin/datasets/income2", t).status_code == 200


def test_a_retired_dataset_keeps_what_was_spent_and_its_name_resumes_it(
        admin_client: Client, query_client: Client, world: World) -> None:
    t, name = world.admin_token, {"dataset_name": "income"}
    assert post(query_client, "/smartnoise_sql_query", query(), world.token).status_code == 200
    left = post(query_client, "/get_remaining_budget", name, world.token).json_body
    assert left["remaining_epsilon"] == pytest.approx(7.0)
    metadata = world.store.get_dataset("income").metadata.model_dump(exclude_none=True)

    retired = call(admin_client, "DELETE", "/admin/datasets/income", t)

    assert (retired.status_code, retired.json_body) == (200, {
        "dataset_name": "income", "grants_kept": 1, "message":
        "Dataset 'income' retired: its 1 grant, their spent budgets and its archives are "
        "kept; registering 'income' again resumes them."})
    for path, body in (("/smartnoise_sql_query", query()), ("/get_remaining_budget", name)):
        assert error(post(query_client, path, body, world.token)) == (403, "UnauthorizedAccess")
    assert call(admin_client, "GET", "/admin/datasets", t).json_body == {"datasets": []}
    for method, path, body in (
            ("GET", "/admin/datasets/income", None), ("DELETE", "/admin/datasets/income", None),
            ("PUT", "/admin/grants/alice/income", {"initial_epsilon": 50.0,
                                                   "initial_delta": 1e-3})):
        refused = call(admin_client, method, path, t, body)
        assert error(refused) == (404, "NotFound") and "retired" in refused.json_body["message"]
    [grant] = call(admin_client, "GET", "/admin/grants?user_name=alice", t).json_body["grants"]
    assert (grant["dataset_retired"], grant["total_spent_epsilon"]) == (True, 3.0)
    assert call(admin_client, "GET", "/admin/grants/alice/income", t).json_body[
        "dataset_retired"] is True

    again = {"dataset_name": "income", "metadata": metadata,
             "dataset_access": {"type": "local", "path": "income.csv"}}
    assert call(admin_client, "POST", "/admin/datasets", t, again).status_code == 201
    assert post(query_client, "/get_remaining_budget", name, world.token).json_body == left
    [grant] = call(admin_client, "GET", "/admin/grants?user_name=alice", t).json_body["grants"]
    assert grant["dataset_retired"] is False
    assert len(call(admin_client, "GET", "/admin/archives?dataset_name=income", t)
               .json_body["archives"]) == 1


def test_a_bulk_import_does_not_grant_below_what_a_resumed_dataset_spent(
        admin_client: Client, world: World) -> None:
    from lomas.domain import PrivacyCost

    world.store.spend("alice", "income", PrivacyCost(4.0, 0.0))
    world.store.delete_dataset("income")
    doc = IMPORT.replace("income3", "income").replace("carol", "alice").replace(
        "users:\n  - {user_name: alice}\n", "")
    response = call(admin_client, "POST", "/admin/import", world.admin_token, doc,
                    content_type="application/x-yaml")
    assert error(response) == (409, "Conflict")
    assert "spent epsilon 4.0" in response.json_body["message"]
    assert world.store.get_dataset("income") is None  # nothing written


def test_metadata_from_a_file_and_path_escapes(admin_client: Client, world: World) -> None:
    t = world.admin_token
    root = world.ctx.settings.resolved_data_root
    metadata = world.store.get_dataset("income").metadata.model_dump(exclude_none=True)
    (root / "income.yaml").write_text(json.dumps(metadata))
    body = {"dataset_name": "from_file", "dataset_access": {"type": "local", "path": "income.csv"},
            "metadata_path": "income.yaml"}
    assert call(admin_client, "POST", "/admin/datasets", t, body).status_code == 201
    for path in ("../outside.csv", "/etc/passwd"):
        escape = dict(body, dataset_name="escape", dataset_access={"type": "local", "path": path})
        assert error(call(admin_client, "POST", "/admin/datasets", t, escape)) == (
            400, "InvalidDocument")


def test_a_revoked_grant_keeps_what_it_spent_and_a_new_grant_resumes_from_it(
        admin_client: Client, query_client: Client, world: World) -> None:
    t, path = world.admin_token, "/admin/grants/alice/income"
    assert post(query_client, "/smartnoise_sql_query", query(), world.token).status_code == 200
    revoked = call(admin_client, "DELETE", path, t)
    assert (revoked.status_code, revoked.json_body["total_spent_epsilon"]) == (
        200, pytest.approx(3.0))
    assert "is kept" in revoked.json_body["message"]
    assert error(post(query_client, "/smartnoise_sql_query", query(), world.token)) == (
        403, "BudgetExhausted")
    again = call(admin_client, "DELETE", path, t)  # revoking twice changes nothing
    assert again.status_code == 200
    assert again.json_body["total_spent_epsilon"] == pytest.approx(3.0)
    grant = call(admin_client, "PUT", path, t, {"initial_epsilon": 10.0,
                                                "initial_delta": 1e-3}).json_body
    assert (grant["total_spent_epsilon"], grant["remaining_epsilon"]) == (
        pytest.approx(3.0), pytest.approx(7.0))  # resumed, not from zero


def test_grant_cannot_go_below_spent(admin_client: Client, world: World) -> None:
    from lomas.domain import PrivacyCost

    world.store.spend("alice", "income", PrivacyCost(4.0, 0.0))
    response = call(admin_client, "PUT", "/admin/grants/alice/income", world.admin_token,
                    {"initial_epsilon": 3.0, "initial_delta": 1e-3})
    assert error(response) == (409, "Conflict")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/admin/users/ghost"), ("DELETE", "/admin/users/ghost"),
    ("POST", "/admin/users/ghost/token"), ("GET", "/admin/datasets/ghost"),
    ("DELETE", "/admin/datasets/ghost"), ("GET", "/admin/grants/alice/ghost"),
])
def test_404_unknown_admin_objects(admin_client: Client, world: World, method, path) -> None:
    assert error(call(admin_client, method, path, world.admin_token)) == (404, "NotFound")


def test_404_grant_for_unknown_user(admin_client: Client, world: World) -> None:
    response = call(admin_client, "PUT", "/admin/grants/ghost/income", world.admin_token,
                    {"initial_epsilon": 1.0, "initial_delta": 0.0})
    assert error(response) == (404, "NotFound")


def test_403_admin_routes_need_an_admin(admin_client: Client, world: World) -> None:
    assert error(call(admin_client, "GET", "/admin/users", world.token)) == (
        403, "UnauthorizedAccess")
    assert error(call(admin_client, "GET", "/admin/users", None)) == (401, "Unauthenticated")


def test_400_bad_admin_bodies(admin_client: Client, world: World) -> None:
    t = world.admin_token
    for body in ({"user_name": "no spaces allowed"}, {"user_name": "x", "is_admin": "maybe"},
                 "{oops"):
        assert error(call(admin_client, "POST", "/admin/users", t, body)) == (
            400, "InvalidDocument")
    bad_grant = {"initial_epsilon": -1.0, "initial_delta": 0.0}
    assert error(call(admin_client, "PUT", "/admin/grants/alice/income", t, bad_grant)) == (
        400, "InvalidDocument")


IMPORT = """
users:
  - {user_name: carol}
datasets:
  - dataset_name: income3
    dataset_access: {type: local, path: income.csv}
    metadata:
      columns:
        income: {type: float, lower: 0, upper: 500000}
grants:
  - {user_name: carol, dataset_name: income3, initial_epsilon: 1.5, initial_delta: 0.0001}
"""


def test_bulk_import(admin_client: Client, world: World) -> None:
    response = call(admin_client, "POST", "/admin/import", world.admin_token, IMPORT,
                    content_type="application/x-yaml")
    assert response.status_code == 201, response.body
    body = response.json_body
    assert [u["user_name"] for u in body["users"]] == ["carol"]
    assert body["datasets"] == ["income3"]
    assert body["grants"][0]["initial_epsilon"] == 1.5
    bad = call(admin_client, "POST", "/admin/import", world.admin_token, "users: [{x: 1}]",
               content_type="application/x-yaml")
    assert error(bad) == (400, "InvalidDocument")
    assert "\n" not in bad.json_body["message"] and "users.0" in bad.json_body["message"]


def test_archives_filter(admin_client: Client, world: World) -> None:
    from lomas.domain import User
    from lomas.engines import ENGINES
    from lomas.services import querying

    SQL = ENGINES["smartnoise_sql"]
    req = SmartnoiseSqlRequest(dataset_name="income", query_str="SELECT COUNT(*) AS n FROM df",
                                 epsilon=1.0, delta=1e-5)
    querying.run_query(world.ctx, User("alice"), SQL, req, None)
    rows = call(admin_client, "GET", "/admin/archives?user_name=alice", world.admin_token)
    assert len(rows.json_body["archives"]) == 1
    none = call(admin_client, "GET", "/admin/archives?dataset_name=other", world.admin_token)
    assert none.json_body["archives"] == []


def test_bulk_import_writes_nothing_if_any_part_fails(admin_client: Client, world: World) -> None:
    doc = IMPORT.replace("dataset_name: income3, initial", "dataset_name: ghost, initial")
    response = call(admin_client, "POST", "/admin/import", world.admin_token, doc,
                    content_type="application/x-yaml")
    assert error(response) == (404, "NotFound")
    assert world.store.get_user("carol") is None
    assert world.store.get_dataset("income3") is None
    taken = IMPORT.replace("user_name: carol}\ndatasets",  # alice exists, not an admin
                           "user_name: alice, is_admin: true}\ndatasets")
    response = call(admin_client, "POST", "/admin/import", world.admin_token, taken,
                    content_type="application/x-yaml")
    assert error(response) == (409, "Conflict")
    assert world.store.get_dataset("income3") is None


def test_a_top_up_adds_to_the_grant_and_refuses_what_cannot_be(admin_client: Client,
                                                               world: World) -> None:
    t = world.admin_token
    world.store.spend("alice", "income", PrivacyCost(4.0, 0.0))
    up = call(admin_client, "POST", "/admin/grants/alice/income/top_up", t, {"add_epsilon": 2.5})
    assert up.status_code == 200, up.json_body
    assert (up.json_body["initial_epsilon"], up.json_body["total_spent_epsilon"],
            up.json_body["remaining_epsilon"]) == (12.5, 4.0, 8.5)
    assert error(call(admin_client, "POST", "/admin/grants/alice/income/top_up", t, {})) == (
        400, "InvalidDocument")
    assert error(call(admin_client, "POST", "/admin/grants/alice/income/top_up", t,
                      {"add_epsilon": -1})) == (400, "InvalidDocument")
    assert error(call(admin_client, "POST", "/admin/grants/alice/income/top_up", t,
                      {"add_delta": 1.0})) == (409, "Conflict")  # delta past 1
    assert error(call(admin_client, "POST", "/admin/grants/bob/income/top_up", t,
                      {"add_epsilon": 1})) == (404, "NotFound")
    assert error(call(admin_client, "POST", "/admin/grants/alice/income/top_up", world.token,
                      {"add_epsilon": 1})) == (403, "UnauthorizedAccess")  # admins only
    grant = world.store.get_grant("alice", "income")
    assert grant is not None and grant.initial == PrivacyCost(12.5, 1e-3)


def test_jobs_in_progress_are_listed_without_their_request(admin_client: Client,
                                                           world: World) -> None:
    now = datetime.now(UTC)
    world.store.create_job(Job(uid="j1", user="alice", idempotency_key="k", fingerprint="f",
                               kind="query", engine="smartnoise_sql", dataset="income",
                               request={"query_str": "SELECT secret"}, cost=PrivacyCost(1, 0),
                               lease_until=now + timedelta(minutes=1),
                               expires_at=now + timedelta(days=1)))
    answer = call(admin_client, "GET", "/admin/jobs", world.admin_token)
    assert answer.status_code == 200
    (job,) = answer.json_body["jobs"]
    assert (job["uid"], job["user_name"], job["epsilon"], job["started"]) == ("j1", "alice",
                                                                              1.0, False)
    assert "SELECT secret" not in json.dumps(answer.json_body)
    assert error(call(admin_client, "GET", "/admin/jobs", world.token)) == (
        403, "UnauthorizedAccess")


def test_the_dashboard_is_served_and_says_when_it_is_not_built(
        admin_client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from functions.common.apps import load_app

    moved = call(admin_client, "GET", "/admin/ui", None)
    assert moved.status_code == 302 and moved.headers["Location"] == "ui/index.html"
    dashboard = load_app("admin").routes.dashboard
    monkeypatch.setattr(dashboard, "FOLDER", tmp_path)  # a checkout where it was not built
    missing = call(admin_client, "GET", "/admin/ui/index.html", None)
    assert error(missing) == (404, "NotFound")
    assert "make dashboard" in missing.json_body["message"]


@pytest.mark.parametrize("name", ["../../../../docs/openapi.json", "../routes.py", "ui/x.js",
                                  ".vite.json", "index.html/..", ""])
def test_the_dashboard_serves_only_its_own_files(name: str, world: World) -> None:
    from functions.common.apps import load_app
    from lomas.errors import NotFound

    with pytest.raises(NotFound):
        load_app("admin").routes.dashboard.serve(name, world.ctx.settings)
