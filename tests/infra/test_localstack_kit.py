"""The LocalStack kit's init scripts, run twice against moto's server on loopback, then a
researcher's queries on the S3 datasets they registered, through the client and the
served apps, with the dataset credentials read from Secrets Manager."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pandas as pd
import pytest

from lomas.domain import PrivacyCost
from lomas.testing.fakes import InMemoryStore
from lomas_client import Client
from tests.conftest import LiveServer, make_world, serve
from tests.infra.conftest import ROOT

INIT = ROOT / "localstack" / "init"
PREFIX = "lomas-kit-test/"


@pytest.fixture
def kit_server(tmp_path: Path, moto_server: str,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """Both apps on loopback; dataset secrets only from Secrets Manager (moto)."""
    for key in [k for k in os.environ if k.startswith("LOMAS_SECRET")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)  # the server's Secrets Manager client
    world = make_world(InMemoryStore(), tmp_path / "server", PrivacyCost(1.0, 1e-5),
                       aws_secrets_prefix=PREFIX)
    yield from serve(world)


def run_kit(server: LiveServer, moto_server: str, cwd: Path) -> str:
    """run_all.py as the guide runs it: from the checkout, LOMAS_KIT_STATE=.lomas/kit."""
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_server, "AWS_DEFAULT_REGION": "us-east-1",
           "LOMAS_ADMIN_URL": server.url, "LOMAS_ADMIN_TOKEN": server.world.admin_token,
           "LOMAS_KIT_BUCKET": "lomas-kit", "LOMAS_AWS_SECRETS_PREFIX": PREFIX,
           "LOMAS_KIT_STATE": ".lomas/kit", "LOMAS_KIT_ROWS": "2000"}
    run = subprocess.run([sys.executable, str(INIT / "run_all.py")], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_init_scripts_twice_then_a_researcher_queries(kit_server: LiveServer, moto_server: str,
                                                      tmp_path: Path) -> None:
    state = tmp_path / ".lomas" / "kit"  # where the guide reads the token: relative to
    first = run_kit(kit_server, moto_server, tmp_path)  # where run_all.py was started
    assert "dataset income_s3: registered" in first and "user kit_researcher: created" in first
    token = (state / "researcher_token").read_text().strip()
    second = run_kit(kit_server, moto_server, tmp_path)
    for line in ("bucket lomas-kit: exists", "income/income_synth.parquet: unchanged",
                 f"secret {PREFIX}kit-s3: unchanged", "dataset income_s3: registered already",
                 "user kit_researcher: exists", "grant kit_researcher on income_s3: exists"):
        assert line in second, second
    assert (state / "researcher_token").read_text().strip() == token

    secret = boto3.client("secretsmanager", endpoint_url=moto_server, region_name="us-east-1")
    assert secret.get_secret_value(SecretId=f"{PREFIX}kit-s3")["SecretString"]
    store = kit_server.world.store
    dataset = store.get_dataset("income_s3")
    assert dataset is not None and dataset.access.type == "s3"
    assert dataset.access.credentials_name == "kit-s3"  # a name, never the keys

    client = Client(kit_server.url, token, "income_s3")
    frame = client.smartnoise_sql.query("SELECT COUNT(*) AS n FROM income_s3", epsilon=1.0,
                                        delta=1e-5)
    assert isinstance(frame, pd.DataFrame) and abs(frame["n"][0] - 2000) < 200
    penguins = Client(kit_server.url, token, "penguins_s3")
    meta = penguins.get_dataset_metadata()
    assert meta["rows"] == 344
    counts = penguins.smartnoise_sql.query("SELECT COUNT(*) AS n FROM penguins_s3",
                                           epsilon=1.0, delta=1e-5)
    assert abs(counts["n"][0] - 344) < 100
    assert client.get_remaining_budget()["remaining_epsilon"] == pytest.approx(9.0)
