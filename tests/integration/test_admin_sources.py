"""Registering S3 and HTTP datasets through the admin API, the CLI and bulk YAML."""

from __future__ import annotations

import json

from chalice.test import Client
from typer.testing import CliRunner

from functions.admin.cli import app as cli
from tests.conftest import BUCKET, LiveServer, World
from tests.functional.test_admin_api import call
from tests.functional.test_query_api import error
from tests.support.sources import http_server


def s3_body(moto_url: str, name: str = "s3data", **access: object) -> dict:
    return {"dataset_name": name,
            "dataset_access": {"type": "s3", "bucket": BUCKET, "key": "income.parquet",
                               "endpoint_url": moto_url, "region": "us-east-1", **access},
            "metadata_access": {"type": "s3", "bucket": BUCKET, "key": "income.yaml",
                                "endpoint_url": moto_url, "region": "us-east-1"}}


def test_register_s3_dataset_with_s3_metadata_and_check_it(
        admin_client: Client, world: World, moto_url: str) -> None:
    t = world.admin_token
    created = call(admin_client, "POST", "/admin/datasets", t, s3_body(moto_url))
    assert created.status_code == 201, created.body
    assert created.json_body["metadata"]["rows"] == 300
    report = call(admin_client, "POST", "/admin/datasets/s3data/check", t).json_body
    assert (report["rows"], report["problems"]) == (300, [])
    unknown = s3_body(moto_url, "s3bad", credentials_name="nope")
    assert error(call(admin_client, "POST", "/admin/datasets", t, unknown)) == (
        400, "InvalidDocument")
    assert error(call(admin_client, "POST", "/admin/datasets/ghost/check", t)) == (
        404, "NotFound")


def test_check_reports_a_missing_object_to_the_admin(admin_client, world, moto_url) -> None:
    body = s3_body(moto_url, "s3gone")
    body["dataset_access"]["key"] = "gone.parquet"
    assert call(admin_client, "POST", "/admin/datasets", world.admin_token, body).status_code == 201
    report = call(admin_client, "POST", "/admin/datasets/s3gone/check", world.admin_token)
    [problem] = report.json_body["problems"]
    assert "no object at s3://" in problem["problem"]


def test_register_http_dataset(admin_client: Client, world: World) -> None:
    with http_server() as (url, files):
        files.files["/income.csv"] = (world.ctx.settings.resolved_data_root /
                                      "income.csv").read_bytes()
        metadata = world.store.get_dataset("income").metadata.model_dump(exclude_none=True)
        files.files["/income.json"] = json.dumps(metadata).encode()
        body = {"dataset_name": "web",
                "dataset_access": {"type": "http", "url": url + "/income.csv"},
                "metadata_access": {"type": "http", "url": url + "/income.json"}}
        created = call(admin_client, "POST", "/admin/datasets", world.admin_token, body)
        assert created.status_code == 201, created.body
        report = call(admin_client, "POST", "/admin/datasets/web/check", world.admin_token)
        assert report.json_body["problems"] == [] and report.json_body["rows"] == 2000
        bad = dict(body, dataset_name="webbad",
                   metadata_access={"type": "http", "url": url + "/missing.yaml"})
        assert error(call(admin_client, "POST", "/admin/datasets", world.admin_token, bad)) == (
            400, "InvalidDocument")


def test_bulk_yaml_with_an_s3_dataset(admin_client: Client, world: World, moto_url: str) -> None:
    doc = f"""
datasets:
  - dataset_name: bulk_s3
    dataset_access: {{type: s3, bucket: {BUCKET}, key: income.csv, endpoint_url: "{moto_url}"}}
    metadata_access: {{type: s3, bucket: {BUCKET}, key: income.yaml, endpoint_url: "{moto_url}"}}
grants:
  - {{user_name: alice, dataset_name: bulk_s3, initial_epsilon: 1.0, initial_delta: 0.0}}
"""
    response = call(admin_client, "POST", "/admin/import", world.admin_token, doc,
                    content_type="application/x-yaml")
    assert response.status_code == 201, response.body
    assert world.store.get_dataset("bulk_s3").access.type == "s3"


def test_cli_adds_and_checks_an_s3_dataset(live_server: LiveServer, moto_url: str) -> None:
    def run(*args: str):
        return CliRunner().invoke(cli, ["--url", live_server.url, "--token",
                                        live_server.world.admin_token, *args])

    added = run("datasets", "add", "cli_s3", "--source", f"s3://{BUCKET}/income.parquet",
                "--endpoint-url", moto_url, "--region", "us-east-1",
                "--metadata-source", f"s3://{BUCKET}/income.yaml")
    assert added.exit_code == 0, added.output
    checked = run("datasets", "check", "cli_s3")
    assert checked.exit_code == 0, checked.output
    assert "300 rows" in checked.output and "no problems" in checked.output
    gone = run("datasets", "add", "cli_gone", "--source", f"s3://{BUCKET}/gone.csv",
               "--endpoint-url", moto_url, "--metadata-source", f"s3://{BUCKET}/income.yaml")
    assert gone.exit_code == 0
    failed = run("datasets", "check", "cli_gone")
    assert failed.exit_code == 1 and "no object" in failed.output
