"""Queries as jobs over real HTTP: Prefer: respond-async, /status/{uid}, one key one job."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from lomas import demo
from lomas.domain import Dataset, PrivacyCost, User
from lomas.services.tokens import hash_token, new_token
from lomas_contract import models as m
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlCostRequest, SmartnoiseSqlResult
from lomas_contract.sources.http import HttpAccess
from tests.conftest import LiveServer, World
from tests.support.slow_data import SlowData, free_port, server_env, start_server

SQL = "SELECT COUNT(*) AS n FROM remote"
BODY = {"dataset_name": "remote", "query_str": SQL, "epsilon": 1.0, "delta": 1e-5}
ASYNC = "respond-async"


def _remote(world: World, data: SlowData) -> None:
    world.store.create_dataset(Dataset("remote", HttpAccess(url=data.url),
                                       demo.income_metadata(500)))
    world.store.put_grant("alice", "remote", PrivacyCost(10.0, 1e-3))


def _post(url: str, token: str, prefer: str | None = ASYNC, key: str | None = None,
          path: str = "/smartnoise_sql_query", body: dict | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if prefer:
        headers["Prefer"] = prefer
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(url + path, json=body or BODY, headers=headers, timeout=60)


def _status(url: str, token: str, uid: str, wait: float = 0) -> requests.Response:
    return requests.get(f"{url}/status/{uid}", params={"wait": wait} if wait else None,
                        headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _cost(world: World) -> m.CostResponse:
    from lomas.engines.smartnoise_sql import execution as smartnoise_sql

    dataset = world.store.get_dataset("remote")
    assert dataset is not None
    cost = smartnoise_sql.estimate_cost("remote", dataset.metadata,
                                        SmartnoiseSqlCostRequest(**BODY))
    return m.CostResponse(epsilon=cost.epsilon, delta=cost.delta)


def _spent(world: World) -> PrivacyCost:
    grant = world.store.get_grant("alice", "remote")
    assert grant is not None
    return grant.spent


def test_a_slow_query_is_a_job_that_completes_and_is_charged_once(
        live_server: LiveServer, slow_data: SlowData) -> None:
    world, url = live_server.world, live_server.url
    _remote(world, slow_data)
    cost = _cost(world)

    submitted = _post(url, world.token, prefer=f"{ASYNC}, wait=1", key="slow-1")
    assert submitted.status_code == 202, submitted.text
    uid = m.JobSubmitted.model_validate(submitted.json()).uid
    assert submitted.headers["Location"] == f"/status/{uid}"
    assert submitted.headers["Preference-Applied"] == ASYNC
    assert slow_data.started.is_set()  # the runner is reading the data

    running = m.JobResponse.model_validate(_status(url, world.token, uid).json())
    assert (running.status, running.requested_by, running.result) == ("in_progress", "alice",
                                                                      None)
    assert _spent(world).epsilon == pytest.approx(cost.epsilon)  # spent before it ran

    slow_data.release.set()
    done = _status(url, world.token, uid, wait=20)
    assert done.status_code == 200
    job = m.JobResponse.model_validate(done.json())
    assert (job.status, job.status_code, job.error) == ("complete", 200, None)
    assert job.result is not None and job.result.requested_by == "alice"
    assert isinstance(job.result.result, SmartnoiseSqlResult)
    assert job.result.result.df["columns"] == ["n"]
    assert job.result.epsilon == pytest.approx(cost.epsilon)

    again = _post(url, world.token, key="slow-1")  # a retry: the same job, finished
    assert again.status_code == 200 and again.json() == job.result.model_dump(mode="json")
    assert _spent(world).epsilon == pytest.approx(cost.epsilon)
    archived = world.store.list_archives(user="alice", dataset="remote")
    assert [(a.idempotency_key, a.status) for a in archived] == [("slow-1", "done")]


def test_twenty_concurrent_submits_of_one_key_make_one_job_and_one_charge(
        live_server: LiveServer, slow_data: SlowData) -> None:
    world, url = live_server.world, live_server.url
    _remote(world, slow_data)
    cost = _cost(world)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _post(url, world.token, key="twenty"), range(20)))
    assert [a.status_code for a in answers] == [202] * 20, [a.text for a in answers]
    uids = {a.json()["uid"] for a in answers}
    assert len(uids) == 1
    slow_data.release.set()
    job = m.JobResponse.model_validate(_status(url, world.token, uids.pop(), wait=20).json())
    assert job.status == "complete"
    assert world.store.jobs.count_documents({"idempotency_key": "twenty"}) == 1  # type: ignore[attr-defined]
    assert _spent(world).epsilon == pytest.approx(cost.epsilon)
    assert len(world.store.list_archives(user="alice", dataset="remote")) == 1


def test_only_the_submitter_or_an_admin_reads_a_job(live_server: LiveServer) -> None:
    world, url = live_server.world, live_server.url
    bob = new_token()
    world.store.create_user(User("bob"), hash_token(bob))
    body = {**BODY, "dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income"}
    submitted = _post(url, world.token, prefer=ASYNC, body=body)
    assert submitted.status_code in (200, 202)
    uid = world.store.jobs.find_one({"user_name": "alice"})["uid"]  # type: ignore[attr-defined]
    assert _status(url, world.token, uid, wait=20).json()["status"] == "complete"

    other = _status(url, bob, uid)
    unknown = _status(url, bob, "0" * 32)
    assert other.status_code == unknown.status_code == 404
    assert other.json() == {"type": "NotFound", "message": f"No job {uid!r}."}
    assert unknown.json()["type"] == "NotFound"
    admin = _status(url, world.admin_token, uid)
    assert admin.status_code == 200 and admin.json()["requested_by"] == "alice"


def test_wait_answers_a_fast_query_directly(live_server: LiveServer) -> None:
    world, url = live_server.world, live_server.url
    body = {**BODY, "dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income"}
    answer = _post(url, world.token, prefer=f"{ASYNC}, wait=20", body=body)
    assert answer.status_code == 200, answer.text
    assert m.QueryResponse.model_validate(answer.json()).requested_by == "alice"
    dummy = _post(url, world.token, prefer=f"{ASYNC}, wait=20", body=body,
                  path="/dummy_smartnoise_sql_query")
    assert dummy.status_code == 200, dummy.text
    assert world.store.jobs.count_documents({"kind": "dummy"}) == 1  # type: ignore[attr-defined]


def test_refusals_before_the_charge_are_direct_and_budget_is_the_jobs_outcome(
        live_server: LiveServer) -> None:
    world, url = live_server.world, live_server.url
    bad = _post(url, world.token, body={**BODY, "dataset_name": "income",
                                        "query_str": "SELECT nope FROM income"})
    assert bad.status_code == 400 and bad.json()["type"] == "InvalidQuery"
    assert world.store.jobs.count_documents({}) == 0  # type: ignore[attr-defined]
    bad_wait = _post(url, world.token, prefer=f"{ASYNC}, wait=soon")
    assert bad_wait.status_code == 400

    world.store.put_grant("alice", "income", PrivacyCost(0.01, 1e-9))
    body = {**BODY, "dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income"}
    poor = _post(url, world.token, body=body, key="poor")
    assert poor.status_code == 403 and poor.json()["type"] == "BudgetExhausted"
    job = world.store.jobs.find_one({"idempotency_key": "poor"})  # type: ignore[attr-defined]
    read = m.JobResponse.model_validate(_status(url, world.token, job["uid"]).json())
    assert (read.status, read.status_code) == ("failed", 403)
    assert read.error is not None and read.error.type == "BudgetExhausted"
    grant = world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == 0


@pytest.mark.slow
def test_a_runner_killed_mid_job_leaves_it_failed_after_its_lease(
        live_server: LiveServer, embedded_uri: str, slow_data: SlowData,
        tmp_path: Path) -> None:
    world = live_server.world
    _remote(world, slow_data)
    cost = _cost(world)
    lease = 6.0
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(world, embedded_uri, port, tmp_path / "state",
                     claim_lease_seconds=str(lease))
    server = start_server(env, url)
    try:
        submitted = _post(url, world.token, key="killed")
        assert submitted.status_code == 202, submitted.text
        uid = submitted.json()["uid"]
        assert slow_data.started.wait(30), "the job never reached the data"
        server.send_signal(signal.SIGKILL)  # the runner dies with its process
        server.wait(30)
    finally:
        server.kill()
    # Another instance answers for the job: in progress until its lease ends, then failed.
    job = world.store.get_job(uid)
    assert job is not None and job.started and job.status == "in_progress"
    late = m.JobResponse.model_validate(
        _status(live_server.url, world.token, uid, wait=lease + 5).json())
    assert (late.status, late.status_code) == ("failed", 500)
    assert late.error is not None and "cost stays spent" in late.error.message
    assert _spent(world).epsilon == pytest.approx(cost.epsilon)  # the data may have been read
    archived = world.store.list_archives(user="alice", dataset="remote")
    assert [(a.idempotency_key, a.status) for a in archived] == [("killed", "failed")]
    assert not world.store.charged("alice", "remote", "killed")


def test_finished_jobs_expire_by_a_ttl_index_after_the_retention(live_server: LiveServer) -> None:
    from datetime import UTC, datetime

    world, url = live_server.world, live_server.url
    indexes = world.store.jobs.index_information()  # type: ignore[attr-defined]
    ttl = [i for i in indexes.values() if i["key"] == [("expires_at", 1)]]
    assert ttl and ttl[0]["expireAfterSeconds"] == 0
    body = {**BODY, "dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income"}
    assert _post(url, world.token, prefer=f"{ASYNC}, wait=20", body=body).status_code == 200
    job = world.store.jobs.find_one({"user_name": "alice"})  # type: ignore[attr-defined]
    left = (job["expires_at"].astimezone(UTC) - datetime.now(UTC)).total_seconds()
    assert left == pytest.approx(world.ctx.settings.job_retention_seconds, abs=30)
