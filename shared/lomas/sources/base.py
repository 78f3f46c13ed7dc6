"""What every source raises (a cause for the log and the admin), and the handle of a table
that lives in a database or a cluster."""

from __future__ import annotations

from typing import Any

from lomas.domain import Capability, Dataset
from lomas.errors import InvalidQuery
from lomas_contract.models import DatasetCheckResponse, DatasetProblem


class SourceError(Exception):
    """The source cannot give the file. The message names no credential or value.

    `invalid` marks an access configuration that can never work (a path escaping
    the data root, an unknown credentials name): an admin error, not an outage.
    """

    def __init__(self, message: str, *, invalid: bool = False) -> None:
        super().__init__(message)
        self.invalid = invalid


def report(dataset: Dataset, rows: int,
           problems: list[DatasetProblem]) -> DatasetCheckResponse:
    """`datasets check`'s answer for the dataset."""
    return DatasetCheckResponse(dataset_name=dataset.name, rows=rows,
                                columns=list(dataset.metadata.columns), problems=problems)


def unloadable(dataset: Dataset, cause: object) -> DatasetCheckResponse:
    """`datasets check`'s answer when the data could not be read at all."""
    return report(dataset, 0, [DatasetProblem(column=None, problem=f"cannot load: {cause}")])


IN_PLACE = "in place"
"""The version of a table read where it lives: the warm cache keeps its handle (a name and
a prefix; the connections belong to the source), and every query reads the data afresh."""


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
