"""The real Lambda runtime entrypoint: `python -m awslambdaric <handler>`, as the image runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import World
from tests.infra.conftest import ROOT, lambda_env
from tests.support.apigw import event
from tests.support.lambda_runtime import FakeRuntimeApi


def test_awslambdaric_answers_two_invocations(mongo_world: World, embedded_uri: str) -> None:
    events = [
        event("http", "POST", "/get_dataset_metadata", {"dataset_name": "income"},
              mongo_world.token, request_id="first"),
        event("rest-proxy", "POST", "/smartnoise_sql_query",
              {"dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income",
               "epsilon": 1.0, "delta": 1e-5}, mongo_world.token, request_id="second"),
    ]
    with FakeRuntimeApi(events) as api:
        env = {**os.environ, **lambda_env(mongo_world, embedded_uri),
               "AWS_LAMBDA_RUNTIME_API": api.address, "AWS_LAMBDA_FUNCTION_NAME": "lomas-query"}
        process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "functions.query.handler.handler"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            finished = api.done.wait(120)
        finally:
            process.kill()
            output = process.communicate(timeout=30)[0]
    assert finished, output
    assert api.errors == {}, output
    first, second = api.responses["invoke-0"], api.responses["invoke-1"]
    assert first["statusCode"] == 200 and first["headers"]["X-Request-Id"] == "first"
    assert json.loads(first["body"])["columns"]["income"]["type"] == "float"
    assert second["statusCode"] == 200, second
    assert json.loads(second["body"])["result"]["df"]["columns"] == ["n"]
    grant = mongo_world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == 1.0
    assert '"request_id": "second"' in output  # the JSON audit line of the query
