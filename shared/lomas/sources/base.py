"""What every source (local, S3, HTTP) raises: a cause for the log and the admin."""

from __future__ import annotations


class SourceError(Exception):
    """The source cannot give the file. The message names no credential or value.

    `invalid` marks an access configuration that can never work (a path escaping
    the data root, an unknown credentials name): an admin error, not an outage.
    """

    def __init__(self, message: str, *, invalid: bool = False) -> None:
        super().__init__(message)
        self.invalid = invalid
