"""Charged query execution: claim the key, spend atomically, run once, archive."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.util import find_spec
from typing import Any

from lomas import errors
from lomas.domain import (
    ArchiveRecord,
    Begin,
    Begun,
    Dataset,
    Job,
    JobEnd,
    Outcome,
    PrivacyCost,
    User,
)
from lomas.engines import Engine, Prepared
from lomas.errors import BudgetExhausted, Conflict, DatasetUnavailable, InvalidQuery, LomasError
from lomas.ports import Handle, StateStore
from lomas.services import ratelimit
from lomas.services.access import dataset_for, no_access
from lomas.services.context import Context
from lomas.services.preflight import DUMMY_ROWS, DUMMY_SEED, PREFLIGHT
from lomas.services.researcher import check_dummy_rows
from lomas_contract import models as m
from lomas_contract.base import DatasetRequest, DummyFields, EngineResult

log = logging.getLogger(__name__)

INTERNAL = {"type": "InternalServer", "message": "Internal server error."}

Executor = Callable[[Handle], dict[str, Any]]


def fingerprint(engine: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"engine": engine, "request": request}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(existing: ArchiveRecord, expected: str) -> dict[str, Any]:
    """The stored outcome of an earlier request (of fingerprint `expected`) under the same
    key."""
    if existing.fingerprint != expected:
        raise Conflict("This Idempotency-Key was already used for a different request.")
    if existing.status == "done" and existing.response is not None:
        return existing.response
    if existing.status == "failed" and existing.error is not None:
        raise errors.rebuild(existing.error)
    raise Conflict("A request with this Idempotency-Key is still running.")


@dataclass(frozen=True)
class Claim:
    """A key claimed for one run of a query, and whether this claim spent its cost."""

    user: User
    dataset: Dataset
    engine: str
    cost: PrivacyCost
    key: str
    owner: str
    charged_now: bool


def begin_step(ctx: Context, user: User, dataset: Dataset, engine: str,
               request: dict[str, Any], cost: PrivacyCost, idempotency_key: str, *,
               owner: str, job: Job | None = None) -> Begin:
    """The store's one step that starts a charged query: its rate window counted, its
    key claimed with a lease, its cost spent under the key (and its job created)."""
    now = datetime.now(UTC)
    lease = now + timedelta(seconds=ctx.settings.claim_lease_seconds)
    record = ArchiveRecord(user.name, idempotency_key, fingerprint(engine, request),
                           dataset.name, engine, request, cost=cost, owner=owner,
                           lease_until=lease)
    return Begin(now, record, ratelimit.window(ctx, user), job)


def exhausted(ctx: Context, user: User, dataset: Dataset, cost: PrivacyCost) -> BudgetExhausted:
    """The refusal of a cost over the remaining budget, saying what remains (read after
    the refusal: nothing was spent)."""
    grant = ctx.store.get_grant(user.name, dataset.name)
    left = (f" (epsilon={grant.remaining.epsilon:.4g}, delta={grant.remaining.delta:.4g})"
            if grant is not None else "")
    return BudgetExhausted(
        f"The remaining budget on {dataset.name!r}{left} does not cover this query's cost "
        f"(epsilon={cost.epsilon:.4g}, delta={cost.delta:.4g}); nothing was spent. A "
        "smaller epsilon or delta costs less, or ask an administrator to top up the grant.")


def settle(ctx: Context, user: User, dataset: Dataset, step: Begin,
           begun: Begun) -> Claim | dict[str, Any]:
    """What a begun step means for its query: a claim to run, or a key's recorded outcome
    (a response dict, or its error raised). A retry after a crashed run (lease over) gets
    a claim not charged again: data may have been read then, so it is never refunded.
    Raises RateLimited, Conflict (key reused or running), BudgetExhausted,
    UnauthorizedAccess (the grant revoked meanwhile)."""
    record = step.record
    assert record is not None
    cost = record.cost
    match begun.outcome:
        case Outcome.LIMITED:
            assert step.rate is not None
            raise ratelimit.limited(ctx, step.rate)
        case Outcome.REPLAY:
            assert begun.existing is not None
            return _replay(begun.existing, record.fingerprint)
        case Outcome.NO_GRANT:
            raise no_access(dataset.name)
        case Outcome.EXHAUSTED:
            raise exhausted(ctx, user, dataset, cost)
    return Claim(user, dataset, record.engine, cost, record.idempotency_key, record.owner,
                 begun.charged_now)


def give_back(ctx: Context, claim: Claim) -> None:
    """Undo a claim whose run never read private data: refund what it spent, free the key."""
    release_claim(ctx.store, claim.user.name, claim.dataset.name, claim.cost, claim.key,
                  claim.owner, charged=claim.charged_now)


def release_claim(store: StateStore, user: str, dataset: str, cost: PrivacyCost, key: str,
                  owner: str, *, charged: bool) -> None:
    """Refund the cost if this claim spent it (never a charge an earlier run made under
    the same key: data may have been read then), and free the key."""
    if charged:
        store.refund(user, dataset, cost, key)
    store.release(user, key, owner)


def run_claimed(ctx: Context, claim: Claim, execute: Executor,
                job: JobEnd | None = None) -> dict[str, Any]:
    """Read the private data and run execute once, then record the outcome (and, with a
    job, the job's in the same step).

    Raises DatasetUnavailable (the claim given back), or the engine's error (recorded,
    not refunded; marked `recorded`), or Conflict if a retry took the key over meanwhile.
    """
    store, user, key, owner, cost = ctx.store, claim.user, claim.key, claim.owner, claim.cost
    try:
        data = ctx.handles.open(claim.dataset)
    except BaseException:
        give_back(ctx, claim)  # no private data was read
        raise
    try:
        response = execute(data)
    except DatasetUnavailable:
        give_back(ctx, claim)  # the source could not be reached: no private data was read
        raise
    except LomasError as exc:
        _finish(store, user, key, owner, job, status="failed", cost=cost, error=exc.record())
        exc.recorded = True
        raise
    except BaseException as exc:
        _finish(store, user, key, owner, job, status="failed", cost=cost, error=INTERNAL)
        exc.recorded = True  # type: ignore[attr-defined]
        raise
    _finish(store, user, key, owner, job, status="done", cost=cost, response=response)
    log.info("query user=%s dataset=%s engine=%s epsilon=%g delta=%g outcome=done",
             user.name, claim.dataset.name, claim.engine, cost.epsilon, cost.delta)
    return response


def _finish(store: StateStore, user: User, key: str, owner: str, job: JobEnd | None,
            **outcome: Any) -> None:
    """Record the outcome. Raises Conflict if another run took the key over meanwhile:
    that run's answer is the one released, never both."""
    if not store.end(user.name, key, owner=owner, job=job, **outcome):
        raise Conflict("This query's Idempotency-Key was taken over by a retry after its "
                       "lease ended; the retry's answer stands.")


def _response(user: User, cost: PrivacyCost, result: EngineResult) -> dict[str, Any]:
    return m.QueryResponse(requested_by=user.name, epsilon=cost.epsilon, delta=cost.delta,
                           result=result).model_dump(mode="json")


def prepare(ctx: Context, engine: Engine, dataset: Dataset, req: DatasetRequest) -> Prepared:
    """The engine's priced query, if the dataset's source offers what it needs; reads no
    data. A fit is bound to the context's fit runner. Raises InvalidQuery, EngineUnavailable."""
    try:
        prepared = engine.prepare(dataset, req)
    except ModuleNotFoundError as exc:
        raise _unavailable(engine, exc.name) from None
    offers = ctx.sources.offers(dataset.access)
    if prepared.needs not in offers:
        raise InvalidQuery(
            f"This {engine.spec.label} query needs {prepared.needs.value!r} data, which a "
            f"{dataset.access.type!r} dataset does not offer (it offers "
            f"{', '.join(sorted(c.value for c in offers))}); nothing was charged.")
    if prepared.fit is None:
        return prepared
    fit, fits = prepared.fit, ctx.fits
    missing = next((name for name in fit.requires if not _installed(name)), None)
    if fits is None or missing is not None:
        raise _unavailable(engine, missing or "a fit runner")

    def run(handle: Handle) -> EngineResult:
        assert fits is not None
        frame = handle.lazy().select(fit.columns).collect()
        return fit.finish(fits.run(fit.task, fit.spec, frame,
                                   dummy=bool(getattr(handle, "dummy", False))))

    return replace(prepared, run=run)


@cache
def _installed(module: str) -> bool:
    """Whether this process can import it (found once: a fit's modules are only imported
    in its child, so the search would otherwise walk sys.path on every request)."""
    return find_spec(module) is not None


def _unavailable(engine: Engine, missing: str | None) -> errors.EngineUnavailable:
    log.warning("engine %s unavailable here: %s is missing", engine.spec.name, missing)
    return errors.EngineUnavailable(
        f"This server does not serve {engine.spec.label} queries ({missing} is not installed: "
        "the `ml` extra, or the deployment's fit function); nothing was charged.")


def estimate_cost(ctx: Context, user: User, engine: Engine,
                  req: DatasetRequest) -> m.CostResponse:
    """What the query would be charged, and its accuracy where the engine can tell before
    it runs (from the request and the metadata only: nothing is read, nothing spent).
    Raises UnauthorizedAccess, InvalidQuery, RateLimited."""
    dataset, _ = dataset_for(ctx.store, user, req.dataset_name)
    ratelimit.admit(ctx, user)
    prepared = prepare(ctx, engine, dataset, req)
    cost = prepared.cost
    alpha = req.alpha if isinstance(req, m.AccuracyFields) else m.DEFAULT_ALPHA
    accuracy = (prepared.accuracy(alpha) if prepared.accuracy is not None else
                m.Accuracy.unavailable(alpha, f"not available for {engine.spec.label}"))
    return m.CostResponse(epsilon=cost.epsilon, delta=cost.delta, accuracy=accuracy)


def preflight(ctx: Context, engine: Engine, dataset: Dataset, request: dict[str, Any],
              prepared: Prepared) -> None:
    """Run a new query shape on dummy data first and, where the query is pushed down, have
    the data's own database plan it (reading no row). Raises InvalidQuery if either cannot
    run it, DatasetUnavailable if the database cannot be reached; nothing is charged.

    The shape is the request without its epsilon: epsilon sets only the noise scales,
    and a scale that cannot be found fails the costing, before this check.
    """
    if prepared.fit is not None:
        return  # every parameter was checked; a fit on dummy data costs as much as the fit
    shape = {name: value for name, value in request.items() if name != "epsilon"}
    key = PREFLIGHT.key(fingerprint(engine.spec.name, shape), dataset.metadata.model_dump_json())
    # Dummy data runs in DuckDB, whose types are strict: SQL it cannot bind (a string column
    # compared with a number) is refused on every backend, since SQLite (SmartNoise's
    # reference) and Spark would each coerce it their own way. Its values are not the
    # query's: a cast that fails on a dummy string refuses nothing.
    PREFLIGHT.check(key, lambda: prepared.run(dummy_handle(dataset, DUMMY_ROWS, DUMMY_SEED)))
    if prepared.plan is None or not ctx.sources.pushes_down(dataset.access):
        return
    handle, plan = ctx.handles.open(dataset), prepared.plan
    PREFLIGHT.check(PREFLIGHT.key("plan", key, dataset.access.model_dump_json()),
                    lambda: plan(handle),
                    refusal=f"The {dataset.access.type} database cannot run this query")


@dataclass(frozen=True)
class Planned:
    """A request checked and priced, ready to run."""

    dataset: Dataset
    request: dict[str, Any]
    prepared: Prepared


def plan(ctx: Context, user: User, engine: Engine, req: DatasetRequest, *,
         dummy: bool, count: bool = True) -> Planned:
    """Check access, the rate limit and the request, and price it; nothing is run.

    A query that fails on dummy data is an InvalidQuery here, before anything is
    charged. Raises UnauthorizedAccess, RateLimited, InvalidQuery. count=False: the
    rate window is counted later, in the step that claims (`begin_step`).
    """
    dataset, _ = dataset_for(ctx.store, user, req.dataset_name)
    if count:
        ratelimit.admit(ctx, user)
    if dummy:
        assert isinstance(req, DummyFields)
        check_dummy_rows(ctx, req.dummy_nb_rows)
    prepared = prepare(ctx, engine, dataset, req)
    request = req.model_dump(mode="json")
    if not dummy:
        preflight(ctx, engine, dataset, request, prepared)
    return Planned(dataset, request, prepared)


def private_executor(ctx: Context, user: User, prepared: Prepared) -> Executor:
    def execute(data: Handle) -> dict[str, Any]:
        return _response(user, prepared.cost, prepared.run(data))

    return execute


def dummy_handle(dataset: Dataset, rows: int, seed: int) -> Handle:
    """Seeded rows made from the metadata only, as an engine reads a dataset."""
    from lomas.data.dummy import dummy_frame
    from lomas.data.handles import FrameHandle

    return FrameHandle(dummy_frame(dataset.metadata, rows, seed), dataset.name, dummy=True)


def dummy_response(user: User, dataset: Dataset, prepared: Prepared,
                   req: DatasetRequest) -> dict[str, Any]:
    assert isinstance(req, DummyFields)
    handle = dummy_handle(dataset, req.dummy_nb_rows, req.dummy_seed)
    return _response(user, prepared.cost, prepared.run(handle))


def run_query(ctx: Context, user: User, engine: Engine, req: DatasetRequest,
              idempotency_key: str | None) -> dict[str, Any]:
    """Charge the query's cost, then run it on the private data once per key: a retry
    replays the recorded outcome, never charged twice.

    Raises what `plan` raises, Conflict (key reused or running), BudgetExhausted,
    DatasetUnavailable (refunded), or the engine's error (not refunded).
    """
    planned = plan(ctx, user, engine, req, dummy=False, count=False)
    step = begin_step(ctx, user, planned.dataset, engine.spec.name, planned.request,
                      planned.prepared.cost, idempotency_key or f"server-{uuid.uuid4()}",
                      owner=uuid.uuid4().hex)
    claim = settle(ctx, user, planned.dataset, step, ctx.store.begin(step))
    if isinstance(claim, dict):
        return claim
    return run_claimed(ctx, claim, private_executor(ctx, user, planned.prepared))


def run_dummy_query(ctx: Context, user: User, engine: Engine,
                    req: DatasetRequest) -> dict[str, Any]:
    """Run the query on dummy data: never charged, never archived. Raises RateLimited."""
    planned = plan(ctx, user, engine, req, dummy=True)
    return dummy_response(user, planned.dataset, planned.prepared, req)
