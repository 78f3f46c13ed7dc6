"""What every source raises (a cause for the log and the admin), and the handle of a table
that lives in a database or a cluster."""

from __future__ import annotations

from typing import Any

from lomas.domain import Capability
from lomas.errors import InvalidQuery


class SourceError(Exception):
    """The source cannot give the file. The message names no credential or value.

    `invalid` marks an access configuration that can never work (a path escaping
    the data root, an unknown credentials name): an admin error, not an outage.
    """

    def __init__(self, message: str, *, invalid: bool = False) -> None:
        super().__init__(message)
        self.invalid = invalid


class RemoteHandle:
    """A table in a database or a cluster: SQL only (`sql()`, `plan()` in the subclass), and
    nothing held in this process."""

    offers = frozenset({Capability.SQL})
    size = 0
    kind = "remote"

    def lazy(self) -> Any:
        raise InvalidQuery(f"A {self.kind} dataset offers SQL only.")

    def frame(self) -> Any:
        raise InvalidQuery(f"A {self.kind} dataset offers SQL only.")

    def close(self) -> None:
        """The connections belong to the source (a pool, the process's session)."""
