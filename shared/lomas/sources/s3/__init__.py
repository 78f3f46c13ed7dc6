"""Objects in S3 or an S3-compatible store; credentials by name, or the function's role."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lomas.errors import first_line
from lomas.ports import SecretStore
from lomas.sources.base import SourceError
from lomas.sources.files import FileSource

if TYPE_CHECKING:
    from lomas.config import Settings
from lomas.sources.secrets import SecretNotFound
from lomas_contract.sources.s3 import S3Access

CHUNK = 1 << 20
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "ExpiredToken", "InvalidToken"}


class S3Source(FileSource):
    def __init__(self, secrets: SecretStore, connect_timeout: float = 5.0,
                 read_timeout: float = 60.0, cache_dir: Path | None = None) -> None:
        super().__init__(cache_dir)
        self._secrets = secrets
        self._timeouts = (connect_timeout, read_timeout)
        self._clients: dict[tuple[str | None, str | None, str | None], Any] = {}
        self._lock = threading.Lock()

    def _credentials(self, name: str | None) -> dict[str, str]:
        if name is None:
            return {}  # the function's own role / default chain
        try:
            secret = self._secrets.get(name)
        except SecretNotFound as exc:
            raise SourceError(f"unknown credentials name {name!r}", invalid=True) from exc
        keys = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
        return {k: secret[k] for k in keys if k in secret}

    def _client(self, access: S3Access) -> Any:
        key = (access.endpoint_url, access.region, access.credentials_name)
        with self._lock:
            if key not in self._clients:
                import boto3  # with the first S3 dataset: a function starts without it
                from botocore.config import Config

                config = Config(connect_timeout=self._timeouts[0], read_timeout=self._timeouts[1],
                                retries={"max_attempts": 3, "mode": "standard"})
                self._clients[key] = boto3.session.Session().client(
                    "s3", endpoint_url=access.endpoint_url, region_name=access.region,
                    config=config, **self._credentials(access.credentials_name))
            return self._clients[key]

    def validate(self, access: S3Access) -> None:
        super().validate(access)
        self._credentials(access.credentials_name)

    def version(self, access: S3Access) -> str:
        head = self._call(access, "head_object")
        return f"{head.get('ETag', '')}:{head.get('VersionId', '')}:{head.get('ContentLength')}"

    def arrow_dataset(self, access: S3Access) -> Any:
        """The object through pyarrow's own S3 client: DuckDB scans it in place (pyarrow's
        reads are safe across DuckDB's threads; fsspec file handles are not)."""
        import pyarrow.dataset as ds
        from pyarrow import fs

        credentials = self._credentials(access.credentials_name)
        options: dict[str, Any] = {
            "access_key": credentials.get("aws_access_key_id"),
            "secret_key": credentials.get("aws_secret_access_key"),
            "session_token": credentials.get("aws_session_token"),
            "connect_timeout": self._timeouts[0], "request_timeout": self._timeouts[1],
        }
        if access.region:
            options["region"] = access.region
        # As boto3 does: the access's endpoint, else the environment's (LocalStack, MinIO).
        url = (access.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
               or os.environ.get("AWS_ENDPOINT_URL"))
        if url:
            endpoint = urlsplit(url)
            options.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme)
            options.setdefault("region", "us-east-1")
        try:
            s3 = fs.S3FileSystem(**{k: v for k, v in options.items() if v is not None})
            return ds.dataset(f"{access.bucket}/{access.key}", filesystem=s3, format="parquet")
        except FileNotFoundError as exc:
            raise SourceError(f"no object at {access.location()}") from exc
        except PermissionError as exc:
            raise SourceError(f"access denied to {access.location()} (check the credentials)"
                              ) from exc
        except ValueError as exc:  # pyarrow's ArrowInvalid: not a Parquet file
            raise SourceError(f"the Parquet file cannot be read: {first_line(exc)}") from exc
        except OSError as exc:
            raise SourceError(f"cannot reach S3 for {access.location()}: {first_line(exc)}"
                              ) from exc

    def download(self, access: S3Access, target: Path) -> None:
        body = self._call(access, "get_object")["Body"]
        try:
            with target.open("wb") as out:
                shutil.copyfileobj(body, out, CHUNK)
        except OSError as exc:
            raise SourceError(f"reading {access.location()} failed: {type(exc).__name__}"
                              ) from exc
        finally:
            body.close()

    def fetch(self, access: S3Access) -> bytes:
        body = self._call(access, "get_object")["Body"]
        try:
            return body.read()
        finally:
            body.close()

    def _call(self, access: S3Access, operation: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        where = access.location()
        try:
            return getattr(self._client(access), operation)(Bucket=access.bucket, Key=access.key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise SourceError(f"no object at {where}") from exc
            if code in _DENIED:
                raise SourceError(f"access denied to {where} (check the credentials)") from exc
            raise SourceError(f"S3 error {code} on {where}") from exc
        except BotoCoreError as exc:
            raise SourceError(f"cannot reach S3 for {where}: {type(exc).__name__}") from exc


def build(settings: Settings, secrets: SecretStore) -> S3Source:
    return S3Source(secrets, settings.source_connect_timeout, settings.source_read_timeout,
                    settings.files_cache_dir)
