"""Queries as background jobs: checked and charged at submit, run by a runner, read by uid.

The budget rules are those of a direct query: the cost is computed (and the query
tried on dummy data) before anything is charged, it is spent at submit in the same
atomic update under the Idempotency-Key, and one key is one job. A runner takes a
job once (`start_job`); a job whose lease ends before it finishes is failed by the
next reader: refunded if no runner took it, its cost kept if the data may have been
read.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from lomas.domain import Dataset, Job, JobEnd, Outcome, User
from lomas.engines import ENGINES, Engine, Prepared
from lomas.errors import Conflict, LomasError, NotFound
from lomas.services import ratelimit
from lomas.services.access import no_access
from lomas.services.context import Context
from lomas.services.querying import (
    INTERNAL,
    Claim,
    begin_step,
    dummy_response,
    fingerprint,
    give_back,
    plan,
    prepare,
    private_executor,
    release_claim,
    run_claimed,
    settle,
)
from lomas_contract.base import DatasetRequest

log = logging.getLogger(__name__)

NOT_STARTED = {"type": "InternalServer", "message": "The job could not be started in time; "
               "nothing was charged for it."}
LOST = {"type": "InternalServer", "message": "The job's runner stopped before it finished (a "
        "timeout or a crash). Its cost stays spent: the data may have been read."}


def _retention(ctx: Context, now: datetime) -> datetime:
    return now + timedelta(seconds=ctx.settings.job_retention_seconds)


def submit(ctx: Context, user: User, engine: Engine, req: DatasetRequest,
           idempotency_key: str | None,
           *, dummy: bool) -> Job:
    """Check, price and (for a real query) charge the request, then hand it to a runner.

    A key that has a job already gives that job back. Raises what a direct query
    raises before its charge (UnauthorizedAccess, RateLimited, InvalidQuery), and
    Conflict for a key used with another request. A failure at the charge (budget)
    is the job's outcome: the job is failed at once. The job is created, its rate
    window counted, its key claimed and its cost spent in one step of the store.
    """
    planned = plan(ctx, user, engine, req, dummy=dummy, count=False)
    kind = "dummy" if dummy else "query"
    now = datetime.now(UTC)
    lease_until = now + timedelta(seconds=ctx.settings.claim_lease_seconds)
    uid = uuid.uuid4().hex
    job = Job(uid=uid, user=user.name, idempotency_key=idempotency_key or f"job-{uid}",
              fingerprint=fingerprint(f"{kind}:{engine.spec.name}", planned.request), kind=kind,
              engine=engine.spec.name, dataset=planned.dataset.name, request=planned.request,
              cost=planned.prepared.cost, lease_until=lease_until,
              expires_at=_retention(ctx, lease_until))
    step = begin_step(ctx, user, planned.dataset, engine.spec.name, planned.request,
                      job.cost, job.idempotency_key, owner=uid, job=job)
    if dummy:
        step = replace(step, record=None)
    begun = ctx.store.begin(step)
    if begun.outcome is Outcome.LIMITED:
        assert step.rate is not None
        raise ratelimit.limited(ctx, step.rate)
    if begun.outcome is Outcome.JOB:
        assert begun.job is not None
        if begun.job.fingerprint != job.fingerprint:
            raise Conflict("This Idempotency-Key was already used for a different request.")
        return begun.job
    ready = Ready(planned.dataset, req, planned.prepared)
    if not dummy:
        try:
            claim = settle(ctx, user, planned.dataset, step, begun)
        except LomasError as exc:
            return _record(ctx, job, "failed", error=exc.record())
        if isinstance(claim, dict):  # the key's query ran already (a direct request)
            return _record(ctx, job, "complete", result=claim)
        job = replace(job, charged=claim.charged_now)
    try:
        ctx.jobs.dispatch(uid, lambda: run(ctx, uid, ready),
                          fit=planned.prepared.fit is not None)
    except Exception:
        log.exception("job %s could not be dispatched", uid)
        return _lapse(ctx, job, now=job.lease_until + timedelta(seconds=1))  # lapse it now
    return job  # in progress, as written (its runner may be done already: await_job reads)


@dataclass(frozen=True)
class Ready:
    """What a submit checked and priced, handed to a runner in the same process (another
    process, a Lambda invocation, reads the job and checks it again)."""

    dataset: Dataset
    request: DatasetRequest
    prepared: Prepared


def run(ctx: Context, uid: str, ready: Ready | None = None) -> Job | None:
    """Run job `uid` here, once: a second delivery, or a job that lapsed, does nothing.

    Returns the job as its outcome was recorded (a waiting request in this process
    answers with it, without reading it back), or None if it did not run here.
    """
    taken = ctx.store.take_job(uid, datetime.now(UTC))
    if taken is None:
        log.info("job %s not run: taken, finished or lapsed", uid)
        return None
    job, dataset = taken
    if ready is not None and ready.dataset != dataset:
        ready = None  # retired or registered again since the submit: checked again
    end = JobEnd(uid, _retention(ctx, datetime.now(UTC)))
    try:
        result = _execute(ctx, job, dataset, ready, end)
    except Exception as exc:
        if isinstance(exc, LomasError):
            error = exc.record()
        else:
            log.exception("job %s failed", uid)
            error = INTERNAL
        if getattr(exc, "recorded", False):  # the query's outcome, recorded with the job's
            return replace(job, status="failed", error=error, expires_at=end.expires_at)
        return _record(ctx, job, "failed", read_back=False, error=error)
    if job.kind == "query":  # recorded with the archive's outcome
        return replace(job, status="complete", result=result, expires_at=end.expires_at)
    return _record(ctx, job, "complete", read_back=False, result=result)


def _execute(ctx: Context, job: Job, dataset: Dataset | None, ready: Ready | None,
             end: JobEnd) -> dict[str, Any]:
    user = User(job.user)
    engine = ENGINES[job.engine]
    claim = None
    if job.kind == "query":
        if dataset is None:  # retired meanwhile
            ctx.store.release(job.user, job.idempotency_key, job.uid)
            raise no_access(job.dataset)
        claim = Claim(user, dataset, job.engine, job.cost, job.idempotency_key, job.uid,
                      job.charged)
    elif dataset is None:
        raise no_access(job.dataset)
    if ready is not None:
        req, prepared = ready.request, ready.prepared
    else:
        model = engine.spec.dummy if job.kind == "dummy" else engine.spec.query
        try:
            req = model.model_validate(job.request)
            prepared = prepare(ctx, engine, dataset, req)
        except BaseException:
            if claim is not None:
                give_back(ctx, claim)  # nothing was read
            raise
    if claim is None:
        return dummy_response(user, dataset, prepared, req)
    return run_claimed(ctx, claim, private_executor(ctx, user, prepared), job=end)


def _record(ctx: Context, job: Job, status: str, *, read_back: bool = True,
            **outcome: Any) -> Job:
    """Record the outcome: the job as recorded, or as the store has it if it was finished
    meanwhile (read_back=False: the job unfinished, as the runner started it)."""
    expires = _retention(ctx, datetime.now(UTC))
    if not ctx.store.finish_job(job.uid, status=status, expires_at=expires, **outcome):
        log.warning("job %s was finished meanwhile (its lease ended?); outcome %s dropped",
                    job.uid, status)
        return (ctx.store.get_job(job.uid) or job) if read_back else job
    return replace(job, status=status, expires_at=expires, **outcome)


def _lapse(ctx: Context, job: Job, now: datetime) -> Job:
    """Fail a job in progress whose lease ended; give back a charge no runner used."""
    if job.finished or job.lease_until >= now:
        return job
    # After the lease no runner can take the job, so `started` is settled.
    error = LOST if job.started else NOT_STARTED
    before = ctx.store.expire_job(job.uid, now, error, _retention(ctx, datetime.now(UTC)))
    if before is not None and before.kind == "query":
        if before.started:
            ctx.store.finish(before.user, before.idempotency_key, status="failed",
                             cost=before.cost, error=error, owner=before.uid)
        else:
            release_claim(ctx.store, before.user, before.dataset, before.cost,
                          before.idempotency_key, before.uid, charged=before.charged)
        log.warning("job %s lapsed (started=%s)", job.uid, before.started)
    return ctx.store.get_job(job.uid) or job


def await_job(ctx: Context, job: Job, wait: float) -> Job:
    """The job once finished, or as it is after `wait` seconds (at most the configured
    maximum). A job running in this process wakes the wait when it ends; one running
    elsewhere (another instance, a Lambda invocation) is polled in the store."""
    deadline = time.monotonic() + max(0.0, min(wait, ctx.settings.job_max_wait_seconds))
    delay = 0.02
    while True:
        job = _lapse(ctx, job, datetime.now(UTC))
        left = deadline - time.monotonic()
        if job.finished or left <= 0:
            return job
        here, outcome = ctx.jobs.wait(job.uid, left)  # a job running here wakes us
        if isinstance(outcome, Job) and outcome.finished:
            return outcome  # as its run recorded it: no need to read it back
        if not here:
            time.sleep(min(delay, left))  # it runs elsewhere: poll the store
            delay = min(delay * 1.5, 0.5)
        job = ctx.store.get_job(job.uid) or job


def submit_and_wait(ctx: Context, user: User, engine: Engine, req: DatasetRequest,
                    idempotency_key: str | None, *, dummy: bool, wait: float) -> Job:
    """`submit`, then `await_job`: the job, finished within `wait` seconds or not. One not
    finished is on disk before the caller learns of it (StateStore.sync): the step that
    created it did not wait for the disk, its end would have."""
    job = await_job(ctx, submit(ctx, user, engine, req, idempotency_key, dummy=dummy), wait)
    if not job.finished:
        ctx.store.sync()
    return job


def status(ctx: Context, user: User, uid: str, wait: float = 0.0) -> Job:
    """The caller's job (an admin's: anybody's). Raises NotFound for another's job too."""
    job = ctx.store.get_job(uid)
    if job is None or (job.user != user.name and not user.is_admin):
        raise NotFound(f"No job {uid!r}.")
    return await_job(ctx, job, wait)
