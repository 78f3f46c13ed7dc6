"""What the numbered init scripts share: settings from the environment, clients, state.

Every script is idempotent: run the whole set again and nothing changes.

Environment (the compose file sets all of it; defaults suit a run on your machine):
  AWS_ENDPOINT_URL          the S3 / Secrets Manager endpoint (LocalStack, or moto_server)
  AWS_DEFAULT_REGION        default us-east-1
  LOMAS_KIT_S3_ENDPOINT     the S3 endpoint as the Lomas server reaches it
                            (default: AWS_ENDPOINT_URL)
  LOMAS_KIT_BUCKET          default lomas-demo
  LOMAS_AWS_SECRETS_PREFIX  the server's Secrets Manager prefix, default lomas/
  LOMAS_KIT_SECRET          the name of the datasets' S3 credentials, default kit-s3
  LOMAS_KIT_ROWS            rows of the synthetic income dataset, default 20000
  LOMAS_ADMIN_URL           the Lomas admin API (default http://127.0.0.1:8080)
  LOMAS_ADMIN_TOKEN         an admin token; unset: 00_admin.py bootstraps one
                            (with LOMAS_MONGODB_URL)
  LOMAS_KIT_STATE           a folder for the tokens the scripts create (default ./kit-state)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3

DATASETS = {
    # dataset name: (data key, metadata key)
    "penguins_s3": ("penguins/penguins.csv", "penguins/penguins.yaml"),
    "income_s3": ("income/income_synth.parquet", "income/income_synth.yaml"),
}
RESEARCHER = "kit_researcher"
BUDGET = {"initial_epsilon": 10.0, "initial_delta": 0.005}


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"{name} is not set")
    return value


def aws(service: str) -> Any:
    """A client for the endpoint in AWS_ENDPOINT_URL (boto3 reads it itself)."""
    return boto3.client(service, region_name=env("AWS_DEFAULT_REGION", "us-east-1"))


def bucket() -> str:
    return env("LOMAS_KIT_BUCKET", "lomas-demo")


def secret_name() -> str:
    return env("LOMAS_KIT_SECRET", "kit-s3")


def state_dir() -> Path:
    path = Path(env("LOMAS_KIT_STATE", "kit-state"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_state(name: str) -> str | None:
    path = state_dir() / name
    return path.read_text().strip() if path.exists() else None


def write_state(name: str, value: str) -> None:
    path = state_dir() / name
    path.write_text(value + "\n")
    path.chmod(0o600)


def admin() -> Any:
    """The admin API through lomas_client's transport (what lomas-admin uses)."""
    from lomas_client.http import Transport

    token = os.environ.get("LOMAS_ADMIN_TOKEN") or read_state("admin_token")
    if not token:
        raise SystemExit("no admin token: set LOMAS_ADMIN_TOKEN or run 00_admin.py first")
    return Transport(env("LOMAS_ADMIN_URL", "http://127.0.0.1:8080"), token)


def say(message: str) -> None:
    print(f"[lomas-kit] {message}", flush=True)  # noqa: T201 - the operator reads this
