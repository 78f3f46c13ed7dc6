"""Named secrets the server holds: S3 credentials, HTTP headers.

A dataset document names a secret; its value never leaves the server's
memory: not stored, returned, logged or archived.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class SecretNotFound(KeyError):
    """No secret of that name in any source."""


class EnvSecrets:
    """LOMAS_SECRET_<NAME> = a JSON object (name upper-cased, `.-/` as `_`)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> dict[str, str]:
        raw = self._environ.get("LOMAS_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper())
        if raw is None:
            raise SecretNotFound(name)
        return _mapping(json.loads(raw), name)


class FileSecrets:
    """A YAML or JSON file mapping names to objects (mounted from a Secret)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def get(self, name: str) -> dict[str, str]:
        if not self._path.exists():  # e.g. an optional key of a mounted Secret
            raise SecretNotFound(name)
        import yaml  # only for a secrets file (12 ms of imports)

        data = yaml.safe_load(self._path.read_text()) or {}
        if name not in data:
            raise SecretNotFound(name)
        return _mapping(data[name], name)


class AwsSecrets:
    """AWS Secrets Manager: secret `<prefix><name>`, a JSON object."""

    def __init__(self, client: Any, prefix: str = "") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def default(cls, prefix: str) -> AwsSecrets:
        """With the function's own role and region."""
        import boto3

        return cls(boto3.client("secretsmanager"), prefix)

    def get(self, name: str) -> dict[str, str]:
        try:
            value = self._client.get_secret_value(SecretId=self._prefix + name)
        except self._client.exceptions.ResourceNotFoundException as exc:
            raise SecretNotFound(name) from exc
        return _mapping(json.loads(value["SecretString"]), name)


class ChainSecrets:
    """The first source that knows the name wins."""

    def __init__(self, *sources: Any) -> None:
        self._sources = sources

    def get(self, name: str) -> dict[str, str]:
        for source in self._sources:
            try:
                return source.get(name)
            except SecretNotFound:
                continue
        raise SecretNotFound(name)


def _mapping(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SecretNotFound(f"{name} (not an object)")
    return {str(k): str(v) for k, v in value.items()}


class SecretUnreadable(RuntimeError):
    """A secret the configuration names could not be read (missing, denied, unreachable)."""


def aws_secret_string(secret_id: str, client: Any = None) -> str:
    """The SecretString of one Secrets Manager secret, by ARN or name. Raises SecretUnreadable."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = client or boto3.client("secretsmanager")
        value = client.get_secret_value(SecretId=secret_id).get("SecretString")
    except (BotoCoreError, ClientError) as exc:
        raise SecretUnreadable(f"{type(exc).__name__}") from exc
    if not value:
        raise SecretUnreadable("the secret has no SecretString")
    return str(value)
