"""An object in S3 or an S3-compatible store."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lomas_contract.base import FileAccess, SecretName


class S3Access(FileAccess):
    """An object in S3 or an S3-compatible store (MinIO, Ceph, LocalStack)."""

    type: Literal["s3"] = "s3"
    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    region: str | None = None
    credentials_name: SecretName | None = Field(
        default=None, description="Named credentials the server holds; none: its own role.")

    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def from_source(cls, source: str, **options: str | None) -> dict[str, Any] | None:
        """s3://bucket/key"""
        if not source.startswith("s3://"):
            return None
        bucket, _, key = source[5:].partition("/")
        return cls.body(bucket=bucket, key=key, endpoint_url=options.get("endpoint_url"),
                        region=options.get("region"),
                        credentials_name=options.get("credentials_name"),
                        format=options.get("format"))
