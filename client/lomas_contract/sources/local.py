"""A file under the server's data root."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lomas_contract.base import FileAccess


class LocalAccess(FileAccess):
    """A file under the server's data root."""

    type: Literal["local"] = "local"
    path: str = Field(min_length=1)

    def location(self) -> str:
        return self.path
