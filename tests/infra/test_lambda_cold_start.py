"""A function's cold start: the MongoDB URL from the environment or a secret, or a clear stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws

from functions.common.wiring import MissingStore, mongodb_url_of, resolve_settings
from lomas.config import Settings
from lomas.sources.secrets import SecretUnreadable, aws_secret_string
from tests.infra.conftest import ROOT


@pytest.mark.parametrize("module", ["functions.admin.handler", "functions.query.handler"])
def test_without_a_mongodb_url_the_function_stops_with_one_log_line(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMAS_")}
    run = subprocess.run([sys.executable, "-c", f"import {module}"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    entry = json.loads(lines[0])
    assert entry["level"] == "CRITICAL"
    assert "LOMAS_MONGODB_URL" in entry["message"] and "local runs only" in entry["message"]


def test_invalid_oidc_settings_stop_the_function_with_one_log_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMAS_")}
    env.update(LOMAS_MONGODB_URL="mongodb://127.0.0.1:9",
               LOMAS_OIDC_ISSUER="http://idp.example.org/realms/nso", LOMAS_OIDC_AUDIENCE="")
    run = subprocess.run([sys.executable, "-c", "import functions.query.handler"], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    (line,) = run.stderr.strip().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "CRITICAL" and "https://" in entry["message"]


def test_the_url_comes_from_its_secret_read_once() -> None:
    reads: list[str] = []

    def read(arn: str) -> str:
        reads.append(arn)
        return "mongodb://db.internal:27017/?tls=true"

    settings = Settings(mongodb_url_secret_arn="lomas/mongodb-url")
    resolved = resolve_settings(settings, read)
    assert resolved.mongodb_url == "mongodb://db.internal:27017/?tls=true"
    assert reads == ["lomas/mongodb-url"]
    assert resolve_settings(Settings(mongodb_url="mongodb://x"), read).mongodb_url == "mongodb://x"
    assert reads == ["lomas/mongodb-url"]  # a URL in the environment wins; no read


@mock_aws
def test_secrets_manager_through_moto() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="lomas/mongodb-url",
                               SecretString='{"mongodb_url": "mongodb://m:27017"}')["ARN"]
    assert mongodb_url_of(aws_secret_string(arn, client)) == "mongodb://m:27017"
    with pytest.raises(SecretUnreadable, match="ResourceNotFoundException"):
        aws_secret_string("lomas/nope", client)
    settings = Settings(mongodb_url_secret_arn="lomas/nope")
    with pytest.raises(MissingStore, match="could not be read") as caught:
        resolve_settings(settings, lambda arn: aws_secret_string(arn, client))
    assert "mongodb://" not in str(caught.value)


@pytest.mark.parametrize("secret", ["not a url", '{"user": "x"}', "{broken", "  "])
def test_a_secret_without_a_url_is_refused_without_echoing_it(secret: str) -> None:
    with pytest.raises(MissingStore) as caught:
        resolve_settings(Settings(mongodb_url_secret_arn="s"), lambda arn: secret)
    assert secret.strip() not in str(caught.value) or not secret.strip()
