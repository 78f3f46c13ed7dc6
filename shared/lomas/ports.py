"""Protocols the services depend on. Adapters implement them; fakes too."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from lomas.domain import (
    ArchiveRecord,
    Begin,
    Begun,
    Capability,
    Dataset,
    DatasetAccess,
    Grant,
    Job,
    JobEnd,
    PrivacyCost,
    User,
)
from lomas_contract.models import DatasetCheckResponse, DatasetMetadata

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl


class UserStore(Protocol):
    def create_user(self, user: User, token_hash: str) -> None:
        """Insert a user. Raises Conflict if the name is taken."""

    def get_user(self, name: str) -> User | None: ...

    def find_user_by_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        """The user holding this token hash, with the stored hash."""

    def list_users(self) -> list[User]: ...

    def list_user_records(self) -> list[tuple[User, str]]:
        """Every user with their token hash (for an export), by name."""

    def delete_user(self, name: str) -> bool:
        """Delete a user. Their grants (with what they spent) and archives stay, and a new
        user of that name resumes them. False if unknown."""

    def set_may_query(self, name: str, may_query: bool) -> bool: ...

    def set_token_hash(self, name: str, token_hash: str) -> bool: ...


class DatasetStore(Protocol):
    """Datasets by name: the name is the privacy unit. A dataset is never forgotten, only
    retired, so that its grants' spent budgets outlive it."""

    def create_dataset(self, dataset: Dataset) -> None:
        """Insert a dataset, or bring back a retired one of that name with this access and
        metadata (its grants, spent budgets and archives resume). Raises Conflict if an
        active dataset has the name."""

    def get_dataset(self, name: str) -> Dataset | None:
        """The active dataset of that name (None: unknown or retired)."""

    def list_datasets(self) -> list[str]:
        """The active datasets' names, sorted."""

    def list_dataset_records(self) -> list[tuple[Dataset, bool]]:
        """Every dataset with whether it is retired (for an export), by name."""

    def delete_dataset(self, name: str) -> bool:
        """Retire it: it can no longer be queried; its grants, their spent budgets and its
        archives stay. False if unknown or retired already."""


class BudgetLedger(Protocol):
    def put_grant(self, user: str, dataset: str, initial: PrivacyCost) -> Grant:
        """Create or change a grant. Raises Conflict if below what is spent."""

    def top_up_grant(self, user: str, dataset: str, amount: PrivacyCost) -> Grant | None:
        """Add `amount` to the initial and the remaining budget in one atomic update (a
        spend in flight keeps its charge). Returns None when there is no grant; raises
        Conflict if the initial delta would pass 1."""

    def get_grant(self, user: str, dataset: str) -> Grant | None: ...

    def list_grants(self, user: str | None = None) -> list[Grant]: ...

    def delete_grant(self, user: str, dataset: str) -> bool: ...

    def spend(self, user: str, dataset: str, cost: PrivacyCost,
              key: str | None = None) -> Grant | None:
        """Charge both parts of cost in one atomic conditional update.

        Returns the grant after the charge, or None when there is no grant, its
        remaining budget does not cover the cost, or `key` was charged already
        (nothing is charged then). The same update records `key` on the grant.
        """

    def charged(self, user: str, dataset: str, key: str) -> bool:
        """Whether `key` was charged on the grant and its query has not finished."""

    def refund(self, user: str, dataset: str, cost: PrivacyCost,
               key: str | None = None) -> None:
        """Give cost back; with a key, only once and only if it was charged under it."""


class QueryArchive(Protocol):
    def claim(self, record: ArchiveRecord, now: datetime | None = None) -> ArchiveRecord | None:
        """Insert a pending record under (user, key); None if this run now holds it.

        If the key is taken, nothing is written and the existing record is
        returned, so at most one request per key runs the engine; except that a
        pending record of the same request whose lease ended before `now` is
        taken over (its owner and lease replaced by the record's).
        """

    def finish(
        self,
        user: str,
        key: str,
        *,
        status: str,
        cost: PrivacyCost,
        response: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
        owner: str | None = None,
    ) -> bool:
        """Record the outcome (and forget the key on the grant). With an owner, only if
        that run still holds the claim; returns whether the outcome was recorded."""

    def release(self, user: str, key: str, owner: str | None = None) -> None:
        """Delete a pending claim (held by owner) whose request was not charged under it."""

    def list_archives(
        self, user: str | None = None, dataset: str | None = None
    ) -> list[ArchiveRecord]:
        """Finished records (done or failed), oldest first."""


class RateCounter(Protocol):
    def count_request(self, user: str, window: int, expires: datetime) -> int:
        """Count one request of `user` in time window `window` in one atomic update and
        return the window's count so far. The count may be forgotten after `expires`."""


class JobStore(Protocol):
    """Background queries. Every change is one conditional update on the job."""

    def create_job(self, job: Job) -> Job | None:
        """Insert the job; None if inserted. If (user, key) has a job already, nothing is
        written and that job is returned: one key, one job."""

    def get_job(self, uid: str) -> Job | None: ...

    def list_jobs_in_progress(self) -> list[Job]:
        """The jobs not finished yet, oldest lease first (for an admin's view)."""

    def mark_job_charged(self, uid: str) -> None:
        """Record that the job's submit spent its cost."""

    def start_job(self, uid: str, now: datetime) -> Job | None:
        """Take the job for a runner: only once, and only while it is in progress and
        its lease runs. The job as taken, or None (taken already, finished, lapsed)."""

    def finish_job(self, uid: str, *, status: str, expires_at: datetime,
                   result: dict[str, Any] | None = None,
                   error: dict[str, str] | None = None) -> bool:
        """Record the outcome of a job in progress; False if it was finished already."""

    def expire_job(self, uid: str, now: datetime, error: dict[str, str],
                   expires_at: datetime) -> Job | None:
        """Fail a job in progress whose lease ended before `now`; the job as it was
        before, or None if it is not such a job."""


class JobRunner(Protocol):
    def dispatch(self, uid: str, work: Callable[[], object], *, fit: bool = False) -> None:
        """Have job `uid` run soon: `work` here (a worker thread), or another invocation
        that runs it by its uid. A `fit` job waits for a fit slot of its own, so that fits
        never hold the other jobs' workers. Raises JobDispatchFailed if it cannot be
        handed over."""

    def wait(self, uid: str, seconds: float) -> tuple[bool, object]:
        """If job `uid` runs in this process, wait until it ends (at most `seconds`):
        (True, what `work` returned, or None if it has not ended). Else (False, None) at
        once: the caller polls the store."""


class FitRunner(Protocol):
    """Fits a model or a synthesizer in a child process, under the fit time limit."""

    def run(self, task: str, spec: dict[str, Any], frame: Any, *,
            dummy: bool) -> dict[str, Any]:
        """The fit's JSON answer. `frame`: the rows it reads (a polars DataFrame). Raises
        InvalidQuery, or ExternalLibraryError (failed, or stopped at its time limit)."""
        ...


class QuerySteps(Protocol):
    """A charged query in three steps of the store (each one transaction where the store
    has them): `access`, `begin`, `end`. On the job path, `take_job` is the fourth."""

    def access(self, user: str, dataset: str) -> tuple[Dataset, Grant] | None:
        """The active dataset and the user's grant on it, in one read; None if either is
        missing."""

    def begin(self, step: Begin) -> Begun:
        """In this order, stopping at the first outcome that is not CLAIMED:
        count the rate window (LIMITED past its limit: only the count is written);
        create the job (JOB if the key has one: nothing else written);
        claim the record's key (REPLAY if taken, as `claim`);
        spend the cost under the key (`spend`), or find it spent by an earlier run under
        the key (`charged`): else NO_GRANT or EXHAUSTED, the claim released;
        mark the job charged when this step spent. A job created before a REPLAY,
        EXHAUSTED or NO_GRANT stays, for the caller to record its outcome."""

    def take_job(self, uid: str, now: datetime) -> tuple[Job, Dataset | None] | None:
        """`start_job`, and the job's dataset if it is active (None: retired meanwhile),
        in one read-and-write."""

    def end(
        self,
        user: str,
        key: str,
        *,
        status: str,
        cost: PrivacyCost,
        response: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
        owner: str | None = None,
        job: JobEnd | None = None,
    ) -> bool:
        """`finish`, and with a job, `finish_job` with the same outcome (done: complete,
        the response its result); False, and the job untouched, if the archive's outcome
        was not recorded."""


class StateStore(UserStore, DatasetStore, BudgetLedger, QueryArchive, RateCounter, JobStore,
                 QuerySteps, Protocol):
    """Everything Lomas keeps: users, datasets, grants, archives, rate windows and jobs."""

    def ping(self) -> None:
        """Raises StoreUnavailable if the store cannot be reached."""

    def sync(self) -> None:
        """Every write made so far is on disk when this returns: called before an answer
        leaves that an earlier write, made without waiting for the disk, stands behind (a
        job's 202). A no-op where each write waits already (MongoDB's write concern)."""


class SqlSession(Protocol):
    """A SQL connection an engine's query runs in, for one execution."""

    @property
    def dialect(self) -> str:
        """SmartNoise-SQL's name for the SQL it speaks: postgres (DuckDB, PostgreSQL), spark."""
        ...

    @property
    def connection(self) -> Any:
        """What SmartNoise-SQL's reader of that dialect executes on."""
        ...


class Handle(Protocol):
    """A dataset version as a source opened it: what the engines read.

    A handle offers some of the capabilities (`offers`); asking another raises
    DatasetUnavailable. Handles are kept warm between queries (`DatasetHandles`).
    """

    @property
    def offers(self) -> frozenset[Capability]: ...

    @property
    def size(self) -> int:
        """The bytes it holds in this process's memory (the warm cache's bound)."""
        ...

    def sql(self) -> AbstractContextManager[SqlSession]:
        """A session for one execution (one connection or lock held while it is open).

        Raises DatasetUnavailable, before any statement is sent, if the data cannot be
        reached: the query is then refunded (no private data was read)."""
        ...

    def plan(self) -> AbstractContextManager[SqlSession]:
        """Like `sql()`, but the database only plans each statement (reading no row) and
        the session then raises `lomas.data.Planned`; an error means it cannot run it."""
        ...

    def lazy(self) -> pl.LazyFrame: ...

    def frame(self) -> pd.DataFrame: ...

    def close(self) -> None:
        """Release what it holds (connections, files); called when it leaves the cache."""
        ...


class Source(Protocol):
    """One kind of place a dataset's rows live (`lomas.sources.<kind>`)."""

    @property
    def offers(self) -> frozenset[Capability]:
        """What its handles offer, known before any data is read."""
        ...

    def validate(self, access: Any) -> None:
        """Raises SourceError(invalid=True) for an access that can never work."""

    def version(self, access: Any) -> str | None:
        """A cheap token that changes when the data changes (mtime+size, ETag); None when the
        source offers none (the data is then opened afresh every time). Raises SourceError."""

    def open(self, dataset: Dataset) -> Handle:
        """Open the dataset for queries. Raises SourceError."""

    def check(self, dataset: Dataset) -> DatasetCheckResponse:
        """How the data departs from its metadata, as counts. Raises SourceError."""

    def read_bytes(self, access: Any) -> bytes:
        """A whole (metadata) file. Raises SourceError (a source of no files included)."""


class DatasetSources(Protocol):
    """Every source kind behind one face (`lomas.sources.registry.Sources`)."""

    def offers(self, access: DatasetAccess) -> frozenset[Capability]: ...

    def pushes_down(self, access: DatasetAccess) -> bool:
        """Whether queries run in the data's own database or cluster."""
        ...

    def validate_access(self, access: DatasetAccess) -> None:
        """Raises InvalidDocument for an access that can never work."""

    def load_metadata(self, access: DatasetAccess) -> DatasetMetadata:
        """Raises InvalidDocument if the file cannot be read or is not valid metadata."""

    def version(self, dataset: Dataset) -> str | None:
        """Raises DatasetUnavailable."""

    def open(self, dataset: Dataset) -> Handle:
        """Raises DatasetUnavailable."""

    def check(self, dataset: Dataset) -> DatasetCheckResponse:
        """Report how the data departs from its metadata (counts only, never values)."""


class DatasetHandles(Protocol):
    """Opened datasets kept warm per version (`lomas.sources.cache.HandleCache`)."""

    def open(self, dataset: Dataset) -> Handle:
        """The dataset's handle at its current version. Raises DatasetUnavailable."""

    def forget(self, name: str) -> None: ...


class TokenVerifier(Protocol):
    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a JSON Web Token whose signature, issuer, audience and validity
        period check out. Raises Unauthenticated, IdentityProviderUnavailable."""


class SecretStore(Protocol):
    def get(self, name: str) -> dict[str, str]:
        """The named secret's fields. Raises SecretNotFound."""
