"""QuerySteps composed of a store's single operations: for stores whose one write covers
one document (MongoDB, the in-memory fake). Each operation is still atomic on its own,
and the order is the one `QuerySteps.begin` states; a store with transactions (SQLite)
does each step in one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lomas.domain import Begin, Begun, Dataset, Grant, Job, JobEnd, Outcome, PrivacyCost
from lomas.ports import StateStore


class ComposedSteps:
    """Mixed into a StateStore: `access`, `begin` and `end` from its other methods."""

    def access(self: StateStore, user: str, dataset: str) -> tuple[Dataset, Grant] | None:
        grant = self.get_grant(user, dataset)
        found = self.get_dataset(dataset) if grant is not None else None
        return (found, grant) if found is not None and grant is not None else None

    def begin(self: StateStore, step: Begin) -> Begun:
        count = 0
        if step.rate is not None:
            count = self.count_request(step.rate.user, step.rate.window, step.rate.expires)
            if count > step.rate.limit:
                return Begun(Outcome.LIMITED, count=count)
        if step.job is not None and (existing := self.create_job(step.job)) is not None:
            return Begun(Outcome.JOB, job=existing, count=count)
        record = step.record
        if record is None:
            return Begun(Outcome.CLAIMED, count=count)
        if (taken := self.claim(record, step.now)) is not None:
            return Begun(Outcome.REPLAY, existing=taken, count=count)
        user, dataset, key = record.user, record.dataset, record.idempotency_key
        charged_now = self.spend(user, dataset, record.cost, key) is not None
        if not charged_now and not self.charged(user, dataset, key):
            self.release(user, key, record.owner)
            missing = self.get_grant(user, dataset) is None
            return Begun(Outcome.NO_GRANT if missing else Outcome.EXHAUSTED, count=count)
        if charged_now and step.job is not None:
            self.mark_job_charged(step.job.uid)
        return Begun(Outcome.CLAIMED, charged_now=charged_now, count=count)

    def take_job(self: StateStore, uid: str,
                 now: datetime) -> tuple[Job, Dataset | None] | None:
        job = self.start_job(uid, now)
        return None if job is None else (job, self.get_dataset(job.dataset))

    def end(self: StateStore, user: str, key: str, *, status: str, cost: PrivacyCost,
            response: dict[str, Any] | None = None, error: dict[str, str] | None = None,
            owner: str | None = None, job: JobEnd | None = None) -> bool:
        if not self.finish(user, key, status=status, cost=cost, response=response,
                           error=error, owner=owner):
            return False
        if job is not None:
            self.finish_job(job.uid, status="complete" if status == "done" else "failed",
                            expires_at=job.expires_at, result=response, error=error)
        return True
