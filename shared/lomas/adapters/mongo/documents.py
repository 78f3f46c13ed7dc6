"""Mapping between domain types and MongoDB documents."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from lomas.domain import ArchiveRecord, Dataset, Grant, Job, PrivacyCost, User
from lomas_contract.models import DatasetAccess, DatasetMetadata

_ACCESS: TypeAdapter[DatasetAccess] = TypeAdapter(DatasetAccess)
USER_KEY = "user_key"


def user_from(doc: dict[str, Any]) -> User:
    return User(name=doc["user_name"], is_admin=doc["is_admin"], may_query=doc["may_query"])


RETIRED = "retired"
"""A dataset deleted by an admin: kept, with its grants, so that registering its name
again resumes what was spent on it. Databases written before it have no such field."""
ACTIVE: dict[str, Any] = {RETIRED: {"$ne": True}}
"""The filter of datasets that may be queried (a missing `retired` is active)."""


def dataset_doc(dataset: Dataset) -> dict[str, Any]:
    return {
        "dataset_name": dataset.name,
        "dataset_access": dataset.access.model_dump(),
        "metadata": dataset.metadata.model_dump(exclude_none=True),
        RETIRED: False,
    }


def dataset_from(doc: dict[str, Any]) -> Dataset:
    return Dataset(
        name=doc["dataset_name"],
        access=_ACCESS.validate_python(doc["dataset_access"]),
        metadata=DatasetMetadata.model_validate(doc["metadata"]),
    )


def grant_doc(user: str, dataset: str, initial: PrivacyCost) -> dict[str, Any]:
    return {
        "user_name": user,
        "dataset_name": dataset,
        "initial_epsilon": initial.epsilon,
        "initial_delta": initial.delta,
        "spent_epsilon": 0.0,
        "spent_delta": 0.0,
        "remaining_epsilon": initial.epsilon,
        "remaining_delta": initial.delta,
    }


def grant_from(doc: dict[str, Any]) -> Grant:
    def pair(prefix: str) -> PrivacyCost:
        return PrivacyCost(max(doc[f"{prefix}_epsilon"], 0.0), max(doc[f"{prefix}_delta"], 0.0))

    return Grant(
        user=doc["user_name"],
        dataset=doc["dataset_name"],
        initial=pair("initial"),
        spent=pair("spent"),
        remaining=pair("remaining"),
    )


def spend_filter(user: str, dataset: str, cost: PrivacyCost,
                 key: str | None = None) -> dict[str, Any]:
    """Match the grant only if it still covers the cost (within tolerance) and, with a
    key, only if that key was not charged yet."""
    floor = cost.allowance()
    query: dict[str, Any] = {
        "user_name": user,
        "dataset_name": dataset,
        "remaining_epsilon": {"$gte": floor.epsilon},
        "remaining_delta": {"$gte": floor.delta},
    }
    if key is not None:
        query[PENDING_KEYS] = {"$ne": key}
    return query


PENDING_KEYS = "pending_keys"
"""Keys charged on a grant whose query has not finished yet: written by the same
update that spends, so a retry after a crash can tell whether it was charged."""


def charge(cost: PrivacyCost, sign: float = 1.0, key: str | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {
        "$inc": {
            "remaining_epsilon": -sign * cost.epsilon,
            "remaining_delta": -sign * cost.delta,
            "spent_epsilon": sign * cost.epsilon,
            "spent_delta": sign * cost.delta,
        }
    }
    if key is not None:
        update["$push" if sign > 0 else "$pull"] = {PENDING_KEYS: key}
    return update


def user_key(user: str, key: str) -> str:
    """One string per (user, Idempotency-Key): the unique field of archives and jobs.

    A unique index on one field, not two: the embedded store (mongoeco) checks a
    compound unique index by reading every document of the collection on each write.
    """
    return json.dumps([user, key], separators=(",", ":"))


def _keyed_doc(item: ArchiveRecord | Job) -> dict[str, Any]:
    """The fields archives and jobs share: a request under a (user, Idempotency-Key)."""
    return {
        USER_KEY: user_key(item.user, item.idempotency_key),
        "user_name": item.user,
        "idempotency_key": item.idempotency_key,
        "fingerprint": item.fingerprint,
        "dataset_name": item.dataset,
        "engine": item.engine,
        "request": item.request,
        "epsilon": item.cost.epsilon,
        "delta": item.cost.delta,
    }


def _keyed_from(doc: dict[str, Any]) -> dict[str, Any]:
    """_keyed_doc's fields, as ArchiveRecord and Job take them."""
    return {
        "user": doc["user_name"],
        "idempotency_key": doc["idempotency_key"],
        "fingerprint": doc["fingerprint"],
        "dataset": doc["dataset_name"],
        "engine": doc["engine"],
        "request": doc["request"],
        "cost": PrivacyCost(doc["epsilon"], doc["delta"]),
    }


def archive_doc(record: ArchiveRecord) -> dict[str, Any]:
    return {
        **_keyed_doc(record),
        "status": record.status,
        "response": record.response,
        "error": record.error,
        "timestamp": record.timestamp,
        "owner": record.owner,
        "lease_until": record.lease_until,
    }


def archive_from(doc: dict[str, Any]) -> ArchiveRecord:
    return ArchiveRecord(
        **_keyed_from(doc),
        status=doc["status"],
        response=doc.get("response"),
        error=doc.get("error"),
        timestamp=doc["timestamp"],
        owner=doc.get("owner") or "",
        lease_until=doc.get("lease_until"),
    )


def job_doc(job: Job) -> dict[str, Any]:
    return {
        **_keyed_doc(job),
        "uid": job.uid,
        "kind": job.kind,
        "lease_until": job.lease_until,
        "expires_at": job.expires_at,
        "status": job.status,
        "result": job.result,
        "error": job.error,
        "charged": job.charged,
        "started": job.started,
        "created_at": job.created_at,
    }


def job_from(doc: dict[str, Any]) -> Job:
    return Job(
        **_keyed_from(doc),
        uid=doc["uid"],
        kind=doc["kind"],
        lease_until=doc["lease_until"],
        expires_at=doc["expires_at"],
        status=doc["status"],
        result=doc.get("result"),
        error=doc.get("error"),
        charged=bool(doc.get("charged")),
        started=bool(doc.get("started")),
        created_at=doc["created_at"],
    )
