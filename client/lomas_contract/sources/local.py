"""A file under the server's data root."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lomas_contract.base import FileAccess


class LocalAccess(FileAccess):
    """A file under the server's data root."""

    type: Literal["local"] = "local"
    path: str = Field(min_length=1)

    def location(self) -> str:
        return self.path

    @classmethod
    def from_source(cls, source: str, **options: str | None) -> dict[str, Any] | None:
        """Any other form: a path under the server's data root."""
        return cls.body(path=source, format=options.get("format"))
