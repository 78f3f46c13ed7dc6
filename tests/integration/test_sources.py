"""Datasets from S3 (moto, in-process and on loopback), HTTP and local files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import boto3
import pytest

from lomas import demo
from lomas.domain import Dataset
from lomas.errors import DatasetUnavailable, InvalidDocument
from lomas.sources.http import HttpSource
from lomas.sources.local import LocalSource
from lomas.sources.registry import Sources
from lomas.sources.s3 import S3Source
from lomas.sources.secrets import ChainSecrets, EnvSecrets, FileSecrets
from lomas_contract import models as m
from lomas_contract.sources.http import HttpAccess
from lomas_contract.sources.local import LocalAccess
from lomas_contract.sources.s3 import S3Access
from tests.conftest import BUCKET
from tests.support.sources import csv_bytes, http_server, parquet_bytes

ROWS = 300
META = demo.income_metadata(ROWS)
FRAME = demo.income_frame(ROWS, seed=3)


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text(json.dumps({
        "minio_ro": {"aws_access_key_id": "minio", "aws_secret_access_key": "minio-secret"},
        "http_token": {"Authorization": "Bearer s3cr3t"},
    }))
    return path


def loader(root: Path, secrets_file: Path | None = None, **http: object) -> Sources:
    secrets = ChainSecrets(EnvSecrets({}), *([FileSecrets(secrets_file)] if secrets_file else []))
    return Sources({"local": LocalSource(root),
                    "s3": S3Source(secrets, connect_timeout=2, read_timeout=2),
                    "http": HttpSource(secrets, connect_timeout=2, read_timeout=1, **http)})  # type: ignore[arg-type]


def s3(key: str, url: str, **kw: object) -> S3Access:
    return S3Access(bucket=BUCKET, key=key, endpoint_url=url, region="us-east-1", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["income.csv", "income.parquet"])
def test_s3_on_loopback_csv_and_parquet_with_named_credentials(
        moto_url: str, secrets_file: Path, tmp_path: Path, key: str) -> None:
    ldr = loader(tmp_path, secrets_file)
    dataset = Dataset("income", s3(key, moto_url, credentials_name="minio_ro"), META)
    ldr.validate_access(dataset.access)
    frame = ldr.open(dataset).frame()
    assert frame.shape == (ROWS, 5)
    assert str(frame["age"].dtype) == "int64" and str(frame["region"].dtype) == "string"
    assert frame["income"].sum() == pytest.approx(FRAME["income"].sum())
    assert ldr.version(dataset) and ldr.version(dataset) == ldr.version(dataset)
    assert ldr.load_metadata(s3("income.yaml", moto_url)) == META


@pytest.mark.parametrize("key", ["income.csv", "income.parquet"])
def test_s3_with_the_functions_own_role_and_endpoint(
        moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """No endpoint and no credentials name: the SDKs' own chain (here the environment's
    keys and AWS_ENDPOINT_URL, as a Lambda role and AWS's endpoint would be)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    access = S3Access(bucket=BUCKET, key=key, region="us-east-1")
    frame = loader(tmp_path).open(Dataset("income", access, META)).frame()
    assert frame.shape == (ROWS, 5)


def test_unknown_credentials_name_fails_cleanly(moto_url: str, secrets_file: Path,
                                                tmp_path: Path, caplog) -> None:
    ldr = loader(tmp_path, secrets_file)
    access = s3("income.csv", moto_url, credentials_name="nobody")
    with pytest.raises(InvalidDocument, match="unknown credentials name"):
        ldr.validate_access(access)
    with caplog.at_level(logging.ERROR), pytest.raises(DatasetUnavailable) as info:
        ldr.open(Dataset("income", access, META)).frame()
    assert info.value.message == "Dataset 'income' is unavailable."
    assert "nobody" in caplog.text and "minio-secret" not in caplog.text


def test_missing_object_reveals_no_bucket_to_the_researcher(moto_url, tmp_path, caplog) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(DatasetUnavailable) as info:
        loader(tmp_path).open(Dataset("income", s3("gone.csv", moto_url), META)).frame()
    assert BUCKET not in info.value.message and "gone" not in info.value.message
    assert f"s3://{BUCKET}/gone.csv" in caplog.text


def test_http_with_etag_headers_and_failures(tmp_path: Path, secrets_file: Path) -> None:
    with http_server() as (url, files):
        files.files["/income.csv"] = csv_bytes(FRAME)
        limit = len(csv_bytes(FRAME)) + 100
        files.files["/big.csv"] = b"x" * (limit + 1)
        ldr = loader(tmp_path, secrets_file, max_bytes=limit, max_redirects=2)
        ok = Dataset("income", HttpAccess(url=url + "/income.csv"), META)
        assert ldr.open(ok).frame().shape == (ROWS, 5)
        first = ldr.version(ok)
        assert first and first.startswith('"')  # the ETag
        files.files["/income.csv"] = csv_bytes(FRAME.head(10))
        assert ldr.version(ok) != first
        token = HttpAccess(url=url + "/needs-token/income.csv", headers_name="http_token")
        assert ldr.open(Dataset("income", token, META)).frame().shape == (10, 5)
        for path, cause in [("/missing.csv", "HTTP 404"), ("/slow.csv", "timed out"),
                            ("/big.csv", f"over {limit} bytes"),
                            ("/loop.csv", "too many redirects"),
                            ("/needs-token/income.csv", "HTTP 401")]:
            with pytest.raises(DatasetUnavailable):
                ldr.open(Dataset("income", HttpAccess(url=url + path), META)).frame()
            from lomas.sources.base import SourceError

            with pytest.raises(SourceError, match=cause):
                ldr._sources["http"]._scan(Dataset("income", HttpAccess(url=url + path), META))


def test_a_data_file_must_be_csv_or_parquet(tmp_path: Path) -> None:
    ldr = loader(tmp_path)
    for access in (LocalAccess(path="income.yaml"), LocalAccess(path="data.txt"),
                   LocalAccess(path="income.bin", format="json")):
        with pytest.raises(InvalidDocument, match="format"):
            ldr.validate_access(access)
    ldr.validate_access(LocalAccess(path="income.bin", format="parquet"))


def test_local_escapes_are_rejected(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "outside.csv").write_bytes(csv_bytes(FRAME))
    os.symlink(tmp_path / "outside.csv", root / "link.csv")
    ldr = loader(root)
    for path in ("../outside.csv", "link.csv", str(tmp_path / "outside.csv"), "a/../../x.csv"):
        with pytest.raises(InvalidDocument, match="data root"):
            ldr.validate_access(LocalAccess(path=path))
        with pytest.raises(DatasetUnavailable):
            ldr.open(Dataset("d", LocalAccess(path=path), META)).frame()


def test_types_are_checked_never_coerced(tmp_path: Path) -> None:
    bad = FRAME.copy()
    bad["age"] = bad["age"].astype(str)
    bad.loc[3, "age"] = "old"
    bad.loc[5, "region"] = "Atlantis"
    (tmp_path / "bad.csv").write_bytes(csv_bytes(bad))
    (tmp_path / "bad.parquet").write_bytes(parquet_bytes(bad))
    ldr = loader(tmp_path)
    for name in ("bad.csv", "bad.parquet"):
        dataset = Dataset("bad", LocalAccess(path=name), META)
        with pytest.raises(DatasetUnavailable):
            ldr.open(dataset).frame()
        report = ldr.check(dataset)
        text = report.model_dump_json()
        assert report.problems and "age" in text and "old" not in text
    wrong_region = FRAME.copy()
    wrong_region.loc[5, "region"] = "Atlantis"
    wrong_region.loc[7, "income"] = 9e9
    (tmp_path / "cats.csv").write_bytes(csv_bytes(wrong_region))
    report = ldr.check(Dataset("cats", LocalAccess(path="cats.csv"), META))
    problems = {(p.column, p.problem, p.rows) for p in report.problems}
    assert ("region", "type: values outside the categories", 1) in problems
    assert ("income", "values outside the bounds (clamped)", 1) in problems
    assert "Atlantis" not in report.model_dump_json()


def test_credentials_from_aws_secrets_manager(tmp_path: Path) -> None:
    from moto import mock_aws

    from lomas.sources.secrets import AwsSecrets, SecretNotFound

    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        sm.create_secret(Name="lomas/s3ro", SecretString=json.dumps(
            {"aws_access_key_id": "AKIA", "aws_secret_access_key": "sm-secret"}))
        secrets = AwsSecrets.default("lomas/")
        assert secrets.get("s3ro")["aws_access_key_id"] == "AKIA"
        with pytest.raises(SecretNotFound):
            secrets.get("missing")
        chained = ChainSecrets(EnvSecrets({"LOMAS_SECRET_S3RO": '{"aws_access_key_id": "E"}'}),
                               secrets)
        assert chained.get("s3ro") == {"aws_access_key_id": "E"}  # environment first


def test_corrupt_file_and_unreachable_endpoint(moto_url: str, tmp_path: Path, caplog) -> None:
    s3_client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3_client.put_object(Bucket=BUCKET, Key="corrupt.parquet", Body=b"PAR1 not really")
    ldr = loader(tmp_path)
    with caplog.at_level(logging.ERROR):
        with pytest.raises(DatasetUnavailable):
            ldr.open(Dataset("c", s3("corrupt.parquet", moto_url), META)).frame()
        closed = S3Access(bucket=BUCKET, key="income.csv", endpoint_url="http://127.0.0.1:9",
                            region="us-east-1")
        with pytest.raises(DatasetUnavailable) as info:
            ldr.version(Dataset("c", closed, META))
    assert "127.0.0.1" not in info.value.message
    assert "Parquet file cannot be read" in caplog.text and "cannot reach S3" in caplog.text


def test_datetime_columns_in_csv_and_parquet(tmp_path: Path) -> None:
    import pandas as pd

    meta = m.DatasetMetadata.model_validate({"columns": {
        "day": {"type": "datetime", "lower": "2020-01-01", "upper": "2021-01-01"},
        "flag": {"type": "boolean"}}})
    frame = pd.DataFrame({"day": pd.to_datetime(["2020-03-01", "2020-04-02"]),
                          "flag": [True, False]})
    (tmp_path / "d.csv").write_bytes(csv_bytes(frame))
    (tmp_path / "d.parquet").write_bytes(parquet_bytes(frame))
    for name in ("d.csv", "d.parquet"):
        got = loader(tmp_path).open(Dataset("d", LocalAccess(path=name), meta)).frame()
        assert got["day"].dtype.kind == "M" and str(got["flag"].dtype) == "boolean"
    (tmp_path / "bad.csv").write_text("day,flag\nnot a date,true\n")
    with pytest.raises(DatasetUnavailable):
        loader(tmp_path).open(Dataset("d", LocalAccess(path="bad.csv"), meta)).frame()
