"""What an engine is to the query service: price a request first, then run it on a handle.

An engine turns a request into a `Prepared` query: its cost, computed from the
request and the metadata before any data is read, what it needs of the data (a SQL
connection, a polars frame, the rows), and how to run on a handle that a source
opened, or that dummy data fills. The query service does the rest the same way for
every engine: access, rate limit, preflight, charge, archive, jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lomas.domain import Capability, Dataset, PrivacyCost
from lomas.ports import Handle
from lomas_contract.base import Accuracy, DatasetRequest, EngineResult, EngineSpec


@dataclass(frozen=True)
class Fit:
    """A model or synthesizer to fit in a child process, under the fit time limit
    (`lomas.engines.isolation`): the query service's fit runner runs it on the handle."""

    task: str
    """The engine's fit module (a key of `lomas.engines.isolation.TASKS`)."""
    spec: dict[str, Any]
    """What the fit needs, as JSON, made from the request and the metadata only."""
    columns: list[str]
    """The columns it reads."""
    finish: Callable[[dict[str, Any]], EngineResult]
    """The child's JSON answer as the engine's result."""
    requires: tuple[str, ...] = ()
    """The modules the child imports: checked before anything is charged."""

    @staticmethod
    def unbound(handle: Handle) -> EngineResult:
        """`Prepared.run` of a fit, until the query service binds its fit runner."""
        raise AssertionError("a fit runs through the query service's fit runner")


@dataclass(frozen=True)
class Prepared:
    """A priced query, ready to run once on a handle."""

    cost: PrivacyCost
    needs: Capability
    run: Callable[[Handle], EngineResult]
    """Raises ExternalLibraryError (the DP library failed on the data)."""
    plan: Callable[[Handle], None] | None = None
    """Where the data's own database runs the query: have it plan the query, reading no
    row. Raises ExternalLibraryError if it cannot run it."""
    fit: Fit | None = None
    """A fit in a child process: every parameter was checked before the charge, and a
    dummy-data preflight would cost as much as the fit, so none is run."""
    accuracy: Callable[[float], Accuracy] | None = None
    """The released statistics' accuracy at a significance level alpha, from the request
    and the metadata only (never the data), for a cost estimate. None: the engine cannot
    tell before it runs."""


class Engine(Protocol):
    """A DP engine: its wire contract, and `prepare`."""

    @property
    def spec(self) -> EngineSpec: ...

    def prepare(self, dataset: Dataset, req: DatasetRequest) -> Prepared:
        """Validate the request and compute its cost; reads no data. Raises InvalidQuery."""
        ...


@dataclass(frozen=True)
class PluggedEngine:
    """An engine made of its spec and its prepare function (what each folder exports)."""

    spec: EngineSpec
    prepare: Callable[[Dataset, DatasetRequest], Prepared]
