"""A file on an HTTP(S) server."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lomas_contract.base import FileAccess, SecretName


class HttpAccess(FileAccess):
    """A file on an HTTP(S) server."""

    type: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://", max_length=2048)
    headers_name: SecretName | None = Field(
        default=None, description="A named secret holding request headers (e.g. a token).")

    def location(self) -> str:
        return self.url.split("?", 1)[0]

    @classmethod
    def from_source(cls, source: str, **options: str | None) -> dict[str, Any] | None:
        """http(s)://host/file"""
        if not source.startswith(("http://", "https://")):
            return None
        return cls.body(url=source, headers_name=options.get("headers_name"),
                        format=options.get("format"))
