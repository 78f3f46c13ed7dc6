"""A working in-memory StateStore (one lock: atomic like a conditional update)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime
from typing import Any

from lomas.adapters.steps import ComposedSteps
from lomas.domain import ArchiveRecord, Dataset, Grant, Job, PrivacyCost, User
from lomas.errors import Conflict


def _plus(a: PrivacyCost, b: PrivacyCost, sign: float = 1.0) -> PrivacyCost:
    return PrivacyCost(
        max(a.epsilon + sign * b.epsilon, 0.0), max(a.delta + sign * b.delta, 0.0)
    )


class InMemoryStore(ComposedSteps):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, tuple[User, str]] = {}
        self._datasets: dict[str, Dataset] = {}
        self._retired: set[str] = set()  # deleted datasets: kept, their grants too
        self._grants: dict[tuple[str, str], Grant] = {}
        self._archives: dict[tuple[str, str], ArchiveRecord] = {}
        self._pending: dict[tuple[str, str], set[str]] = {}  # keys charged, not finished
        self._rates: dict[tuple[str, int], int] = {}
        self._jobs: dict[str, Job] = {}

    def ping(self) -> None:
        return None

    def sync(self) -> None:
        return None

    # users
    def create_user(self, user: User, token_hash: str) -> None:
        with self._lock:
            if user.name in self._users:
                raise Conflict(f"User {user.name!r} already exists.")
            self._users[user.name] = (user, token_hash)

    def get_user(self, name: str) -> User | None:
        found = self._users.get(name)
        return found[0] if found else None

    def find_user_by_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        with self._lock:
            return next((u for u in self._users.values() if u[1] == token_hash), None)

    def list_users(self) -> list[User]:
        return [self._users[n][0] for n in sorted(self._users)]

    def list_user_records(self) -> list[tuple[User, str]]:
        with self._lock:
            return [self._users[n] for n in sorted(self._users)]

    def delete_user(self, name: str) -> bool:
        with self._lock:  # their grants stay
            return self._users.pop(name, None) is not None

    def set_may_query(self, name: str, may_query: bool) -> bool:
        with self._lock:
            if name not in self._users:
                return False
            user, token_hash = self._users[name]
            self._users[name] = (replace(user, may_query=may_query), token_hash)
            return True

    def set_token_hash(self, name: str, token_hash: str) -> bool:
        with self._lock:
            if name not in self._users:
                return False
            self._users[name] = (self._users[name][0], token_hash)
            return True

    # datasets
    def create_dataset(self, dataset: Dataset) -> None:
        with self._lock:
            if dataset.name in self._datasets and dataset.name not in self._retired:
                raise Conflict(f"Dataset {dataset.name!r} already exists.")
            self._datasets[dataset.name] = dataset
            self._retired.discard(dataset.name)

    def get_dataset(self, name: str) -> Dataset | None:
        with self._lock:
            return None if name in self._retired else self._datasets.get(name)

    def list_datasets(self) -> list[str]:
        with self._lock:
            return sorted(set(self._datasets) - self._retired)

    def list_dataset_records(self) -> list[tuple[Dataset, bool]]:
        with self._lock:
            return [(self._datasets[n], n in self._retired) for n in sorted(self._datasets)]

    def delete_dataset(self, name: str) -> bool:
        with self._lock:  # retired: its grants stay
            if name not in self._datasets or name in self._retired:
                return False
            self._retired.add(name)
            return True

    # grants
    def put_grant(self, user: str, dataset: str, initial: PrivacyCost) -> Grant:
        with self._lock:
            old = self._grants.get((user, dataset))
            if old is None:
                grant = Grant(user, dataset, initial, PrivacyCost(0.0, 0.0), initial)
            else:
                if old.spent.epsilon > initial.epsilon or old.spent.delta > initial.delta:
                    raise Conflict("A grant cannot be set below the budget already spent.")
                remaining = _plus(initial, old.spent, sign=-1.0)
                grant = replace(old, initial=initial, remaining=remaining)
            self._grants[(user, dataset)] = grant
            return grant

    def top_up_grant(self, user: str, dataset: str, amount: PrivacyCost) -> Grant | None:
        with self._lock:
            old = self._grants.get((user, dataset))
            if old is None:
                return None
            if old.initial.delta + amount.delta > 1.0:
                raise Conflict("A grant's delta cannot be topped up past 1.")
            grant = replace(old, initial=_plus(old.initial, amount),
                            remaining=_plus(old.remaining, amount))
            self._grants[(user, dataset)] = grant
            return grant

    def get_grant(self, user: str, dataset: str) -> Grant | None:
        return self._grants.get((user, dataset))

    def list_grants(self, user: str | None = None) -> list[Grant]:
        return [g for k, g in sorted(self._grants.items()) if user in (None, k[0])]

    def delete_grant(self, user: str, dataset: str) -> bool:
        with self._lock:
            return self._grants.pop((user, dataset), None) is not None

    def spend(self, user: str, dataset: str, cost: PrivacyCost,
              key: str | None = None) -> Grant | None:
        floor = cost.allowance()
        with self._lock:
            grant = self._grants.get((user, dataset))
            if grant is None or grant.remaining.epsilon < floor.epsilon:
                return None
            if grant.remaining.delta < floor.delta:
                return None
            pending = self._pending.setdefault((user, dataset), set())
            if key is not None and key in pending:
                return None
            grant = replace(
                grant,
                spent=_plus(grant.spent, cost),
                remaining=_plus(grant.remaining, cost, sign=-1.0),
            )
            self._grants[(user, dataset)] = grant
            if key is not None:
                pending.add(key)
            return grant

    def charged(self, user: str, dataset: str, key: str) -> bool:
        with self._lock:
            return (user, dataset) in self._grants and key in self._pending.get(
                (user, dataset), set())

    def refund(self, user: str, dataset: str, cost: PrivacyCost, key: str | None = None) -> None:
        with self._lock:
            grant = self._grants.get((user, dataset))
            pending = self._pending.get((user, dataset), set())
            if grant is None or (key is not None and key not in pending):
                return
            pending.discard(key or "")
            self._grants[(user, dataset)] = replace(
                grant,
                spent=_plus(grant.spent, cost, sign=-1.0),
                remaining=_plus(grant.remaining, cost),
            )

    # archives
    def claim(self, record: ArchiveRecord, now: datetime | None = None) -> ArchiveRecord | None:
        with self._lock:
            key = (record.user, record.idempotency_key)
            existing = self._archives.get(key)
            if existing is None:
                self._archives[key] = record
                return None
            if (now is not None and existing.status == "pending"
                    and existing.fingerprint == record.fingerprint
                    and existing.lease_until is not None and existing.lease_until < now):
                self._archives[key] = replace(existing, owner=record.owner,
                                              lease_until=record.lease_until)
                return None
            return existing

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
        with self._lock:
            record = self._archives.get((user, key))
            if record is None or (owner is not None
                                  and (record.owner != owner or record.status != "pending")):
                return False
            self._archives[(user, key)] = replace(
                record, status=status, cost=cost, response=response, error=error,
                lease_until=None)
            self._pending.get((user, record.dataset), set()).discard(key)
            return True

    def release(self, user: str, key: str, owner: str | None = None) -> None:
        with self._lock:
            rec = self._archives.get((user, key))
            if rec and rec.status == "pending" and owner in (None, rec.owner):
                del self._archives[(user, key)]

    def count_request(self, user: str, window: int, expires: datetime) -> int:
        with self._lock:
            for old in [k for k in self._rates if k[0] == user and k[1] < window]:
                del self._rates[old]
            count = self._rates[(user, window)] = self._rates.get((user, window), 0) + 1
            return count

    def list_archives(
        self, user: str | None = None, dataset: str | None = None
    ) -> list[ArchiveRecord]:
        with self._lock:
            records = [
                r
                for r in self._archives.values()
                if r.status in ("done", "failed")
                and user in (None, r.user)
                and dataset in (None, r.dataset)
            ]
        return sorted(records, key=lambda r: r.timestamp)

    # jobs
    def create_job(self, job: Job) -> Job | None:
        with self._lock:
            existing = next((j for j in self._jobs.values() if j.user == job.user
                             and j.idempotency_key == job.idempotency_key), None)
            if existing is not None:
                return existing
            self._jobs[job.uid] = job
            return None

    def get_job(self, uid: str) -> Job | None:
        return self._jobs.get(uid)

    def list_jobs_in_progress(self) -> list[Job]:
        return sorted((j for j in self._jobs.values() if j.status == "in_progress"),
                      key=lambda j: (j.lease_until, j.uid))

    def mark_job_charged(self, uid: str) -> None:
        with self._lock:
            if uid in self._jobs:
                self._jobs[uid] = replace(self._jobs[uid], charged=True)

    def start_job(self, uid: str, now: datetime) -> Job | None:
        with self._lock:
            job = self._jobs.get(uid)
            if (job is None or job.status != "in_progress" or job.started
                    or job.lease_until <= now):
                return None
            job = self._jobs[uid] = replace(job, started=True)
            return job

    def finish_job(self, uid: str, *, status: str, expires_at: datetime,
                   result: dict[str, Any] | None = None,
                   error: dict[str, str] | None = None) -> bool:
        with self._lock:
            job = self._jobs.get(uid)
            if job is None or job.status != "in_progress":
                return False
            self._jobs[uid] = replace(job, status=status, result=result, error=error,
                                      expires_at=expires_at)
            return True

    def expire_job(self, uid: str, now: datetime, error: dict[str, str],
                   expires_at: datetime) -> Job | None:
        with self._lock:
            job = self._jobs.get(uid)
            if job is None or job.status != "in_progress" or job.lease_until >= now:
                return None
            self._jobs[uid] = replace(job, status="failed", error=error, expires_at=expires_at)
            return job
