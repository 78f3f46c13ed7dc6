"""The Lambda job runner: the query function hands a job to an asynchronous invocation of
itself, and the same handler given that event runs the job in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lomas.adapters.runners import JobDispatchFailed, LambdaRunner
from tests.conftest import World
from tests.infra.conftest import lambda_env
from tests.infra.test_lambda_handlers import body
from tests.support.apigw import event

SQL = {"dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income",
       "epsilon": 1.0, "delta": 1e-5}


class FakeLambda:
    """boto3's Lambda client, as far as the runner uses it: records the invocations."""

    def __init__(self, status: int = 202) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = status

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"StatusCode": self.status}


def test_the_runner_invokes_the_function_asynchronously_with_the_uid(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLambda()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "lomas-query-fn")
    LambdaRunner(client=fake).dispatch("abc", lambda: None)
    assert fake.calls == [{"FunctionName": "lomas-query-fn", "InvocationType": "Event",
                           "Payload": b'{"lomas_job": "abc"}'}]
    LambdaRunner("other", client=fake).dispatch("d", lambda: None)
    assert fake.calls[-1]["FunctionName"] == "other"
    with pytest.raises(JobDispatchFailed):
        LambdaRunner(client=FakeLambda(status=500)).dispatch("e", lambda: None)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    with pytest.raises(JobDispatchFailed):
        LambdaRunner(client=fake).dispatch("f", lambda: None)


@pytest.fixture
def lambda_jobs(mongo_world: World, embedded_uri: str, monkeypatch: pytest.MonkeyPatch,
                restore_logging: None) -> tuple[Any, FakeLambda]:
    """The query function's handler with LOMAS_JOB_RUNNER=lambda, as the template sets it."""
    import boto3

    from functions.common.lambda_events import lambda_handler

    fake, real = FakeLambda(), boto3.client
    monkeypatch.setattr(boto3, "client",
                        lambda name, *a, **k: fake if name == "lambda" else real(name, *a, **k))
    for key, value in lambda_env(mongo_world, embedded_uri).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LOMAS_JOB_RUNNER", "lambda")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "lomas-query")
    return lambda_handler("query", "admin"), fake


@pytest.mark.parametrize("kind", ["http", "http-stage", "rest-proxy"])
def test_a_job_runs_to_complete_in_the_invoked_function(
        kind: str, lambda_jobs: tuple[Any, FakeLambda], mongo_world: World) -> None:
    handler, fake = lambda_jobs
    token = mongo_world.token
    submitted = event(kind, "POST", "/smartnoise_sql_query", SQL, token)
    submitted["headers"].update({"prefer": "respond-async", "x-lomas-base-path": "/evil"})
    submitted.pop("multiValueHeaders", None)
    answer = handler(submitted, None)
    assert answer["statusCode"] == 202, answer
    uid = body(answer)["uid"]
    stage = "" if kind == "http" else "/prod"
    assert answer["headers"]["Location"] == f"{stage}/status/{uid}"

    assert [c["FunctionName"] for c in fake.calls] == ["lomas-query"]
    job_event = json.loads(fake.calls[0]["Payload"])
    cost = mongo_world.store.get_job(uid).cost
    spent = mongo_world.store.get_grant("alice", "income").spent
    assert spent.epsilon == pytest.approx(cost.epsilon)  # charged before the runner ran

    assert handler(job_event, None) == {"uid": uid, "status": "complete"}
    assert handler(job_event, None) == {"uid": uid, "status": "complete"}  # redelivered: once
    read = handler(event(kind, "GET", f"/status/{uid}", None, token), None)
    assert read["statusCode"] == 200
    job = body(read)
    assert (job["status"], job["status_code"], job["requested_by"]) == ("complete", 200, "alice")
    assert job["result"]["result"]["df"]["columns"] == ["n"]
    grant = mongo_world.store.get_grant("alice", "income")
    assert grant.spent.epsilon == pytest.approx(cost.epsilon)
    assert len(mongo_world.store.list_archives(user="alice")) == 1
