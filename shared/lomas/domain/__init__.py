"""Plain domain types. No I/O, no framework."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from lomas_contract.models import Access, DatasetMetadata

DatasetAccess = Access
"""Where a dataset's rows are: one of the source kinds' access models (lomas_contract)."""


class Capability(StrEnum):
    """What an opened dataset offers an engine, and what an engine asks for."""

    SQL = "sql"
    """A SQL connection the query runs in (the aggregates are computed where the data is)."""
    POLARS = "polars"
    """A polars LazyFrame."""
    ROWS = "rows"
    """The rows themselves, in this process's memory."""

BUDGET_TOLERANCE = 1e-9
"""Relative slack when comparing a cost with a remaining budget.

Costs such as 1.4999949999983109e-05 summed ten times do not give back the
exact float an administrator granted; a cost within this relative margin of
what remains is allowed, and the remaining budget is then clamped at zero.
"""


@dataclass(frozen=True, slots=True)
class PrivacyCost:
    """An (epsilon, delta) pair: a cost to charge or a budget to grant."""

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        for value in (self.epsilon, self.delta):
            if not math.isfinite(value) or value < 0:
                raise ValueError("epsilon and delta must be finite and non-negative")

    def allowance(self) -> PrivacyCost:
        """The smallest remaining budget that still covers this cost."""
        return PrivacyCost(
            self.epsilon * (1 - BUDGET_TOLERANCE), self.delta * (1 - BUDGET_TOLERANCE)
        )


@dataclass(frozen=True, slots=True)
class User:
    name: str
    is_admin: bool = False
    may_query: bool = True


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    access: DatasetAccess
    metadata: DatasetMetadata


@dataclass(frozen=True, slots=True)
class Grant:
    user: str
    dataset: str
    initial: PrivacyCost
    spent: PrivacyCost
    remaining: PrivacyCost


@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """One query: claimed under its idempotency key, then done or failed."""

    user: str
    idempotency_key: str
    fingerprint: str
    dataset: str
    engine: str
    request: dict[str, Any]
    status: str = "pending"  # pending | done | failed
    cost: PrivacyCost = PrivacyCost(0.0, 0.0)
    response: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    timestamp: datetime = field(default_factory=lambda: datetime.now().astimezone())
    owner: str = ""  # the run holding a pending claim
    lease_until: datetime | None = None  # after it, another run may take the claim over


@dataclass(frozen=True, slots=True)
class Job:
    """A query run in the background: submitted, then complete or failed.

    `charged` says that this job's submit spent its cost (so it may be refunded if the
    job never starts); `started` that a runner took it (the data may have been read).
    """

    uid: str
    user: str
    idempotency_key: str
    fingerprint: str
    kind: str  # query | dummy
    engine: str
    dataset: str
    request: dict[str, Any]
    cost: PrivacyCost
    lease_until: datetime
    expires_at: datetime  # the store may forget the job after it
    status: str = "in_progress"  # in_progress | complete | failed
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    charged: bool = False
    started: bool = False
    created_at: datetime = field(default_factory=lambda: datetime.now().astimezone())

    @property
    def finished(self) -> bool:
        return self.status != "in_progress"


@dataclass(frozen=True, slots=True)
class RateWindow:
    """One request of `user` counted in time window `window`, refused past `limit`; the
    window's count may be forgotten after `expires`."""

    user: str
    window: int
    expires: datetime
    limit: int


@dataclass(frozen=True, slots=True)
class Begin:
    """What starts a query in one step of the store: its rate window counted, its job
    created, its key claimed and its cost spent under that key.

    `record`: the claim of a charged query, under its user, dataset, key and cost (None: a
    dummy job, nothing claimed or charged). `job`: the job it runs as (None: a direct
    request).
    """

    now: datetime
    record: ArchiveRecord | None = None
    rate: RateWindow | None = None
    job: Job | None = None


class Outcome(StrEnum):
    CLAIMED = "claimed"
    """The key is this run's; `charged_now` says whether this step spent the cost (False:
    an earlier run under the key spent it and died)."""
    LIMITED = "limited"
    """Over the rate limit: only the count was written."""
    JOB = "job"
    """The key has a job already (`job`): nothing else was written."""
    REPLAY = "replay"
    """The key has a claim already (`existing`): its outcome, or a run still going."""
    EXHAUSTED = "exhausted"
    """The grant does not cover the cost: nothing claimed or charged."""
    NO_GRANT = "no_grant"
    """There is no grant (revoked meanwhile): nothing claimed or charged."""


@dataclass(frozen=True, slots=True)
class Begun:
    outcome: Outcome
    charged_now: bool = False
    existing: ArchiveRecord | None = None
    job: Job | None = None
    count: int = 0


@dataclass(frozen=True, slots=True)
class JobEnd:
    """The job whose outcome is the query's, recorded in the same step as the archive's."""

    uid: str
    expires_at: datetime
