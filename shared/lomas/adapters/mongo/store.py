"""The MongoDB implementation of StateStore (pymongo; mongoeco or MongoDB)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pymongo
from pymongo import ASCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from lomas.adapters.mongo import documents as docs
from lomas.adapters.steps import ComposedSteps
from lomas.domain import ArchiveRecord, Dataset, Grant, Job, PrivacyCost, User
from lomas.errors import Conflict, StoreUnavailable

log = logging.getLogger(__name__)

_PUT_GRANT_ATTEMPTS = 20


def _translated[F: Callable[..., Any]](method: F) -> F:
    """Turn driver errors into StoreUnavailable; the cause goes to the log only."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DuplicateKeyError:
            raise
        except PyMongoError as exc:
            log.error("state store error in %s: %s", method.__name__, exc)
            raise StoreUnavailable("The state store is unavailable.") from exc

    return wrapper  # type: ignore[return-value]


def _insert_new(collection: Collection[dict[str, Any]], where: dict[str, Any],
                doc: dict[str, Any]) -> bool:
    """Insert doc unless a document matches `where` (its unique key); True if inserted.

    An upsert that only sets on insert, not insert_one: the embedded store (mongoeco)
    reads every document of the collection on each insert_one, not on an upsert.
    """
    fields = {name: value for name, value in doc.items() if name not in where}
    try:
        done = collection.update_one(where, {"$setOnInsert": fields}, upsert=True)
    except DuplicateKeyError:  # MongoDB: a concurrent upsert of the same key inserted it
        return False
    return done.upserted_id is not None


_FORMER_UNIQUE = "user_name_1_idempotency_key_1"


def _unique_user_key(collection: Collection[dict[str, Any]]) -> None:
    """The unique (user, Idempotency-Key) index on one field. On a database written
    before it (it has the former two-field unique index), user_key is filled in first,
    and the former index dropped last: a start cut short between them does it again.
    Other starts read no document."""
    former = _FORMER_UNIQUE in collection.index_information()
    if former:
        missing = collection.find({docs.USER_KEY: {"$exists": False}},
                                  {"user_name": 1, "idempotency_key": 1})
        for doc in missing:
            collection.update_one({"_id": doc["_id"]}, {"$set": {
                docs.USER_KEY: docs.user_key(doc["user_name"], doc["idempotency_key"])}})
    collection.create_index([(docs.USER_KEY, ASCENDING)], unique=True, sparse=True)
    if former:
        collection.drop_index(_FORMER_UNIQUE)


class MongoStore(ComposedSteps):
    """Users, datasets, grants and archives in four collections."""

    def __init__(self, client: MongoClient[dict[str, Any]], db_name: str) -> None:
        db = client[db_name]
        self._client = client
        self.users: Collection[dict[str, Any]] = db["users"]
        self.datasets: Collection[dict[str, Any]] = db["datasets"]
        self.grants: Collection[dict[str, Any]] = db["grants"]
        self.archives: Collection[dict[str, Any]] = db["archives"]
        self.rates: Collection[dict[str, Any]] = db["rate_windows"]
        self.jobs: Collection[dict[str, Any]] = db["jobs"]

    @classmethod
    def connect(cls, url: str, db_name: str, timeout_ms: int = 5000) -> MongoStore:
        client: MongoClient[dict[str, Any]] = MongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms, appname="lomas"
        )
        store = cls(client, db_name)
        store.ensure_indexes()
        return store

    @_translated
    def ensure_indexes(self) -> None:
        self.users.create_index([("user_name", ASCENDING)], unique=True)
        self.users.create_index([("token_hash", ASCENDING)])
        self.datasets.create_index([("dataset_name", ASCENDING)], unique=True)
        self.grants.create_index(
            [("user_name", ASCENDING), ("dataset_name", ASCENDING)], unique=True
        )
        for keyed in (self.archives, self.jobs):
            _unique_user_key(keyed)
        self.archives.create_index([("user_name", ASCENDING)])
        self.archives.create_index([("dataset_name", ASCENDING)])
        self.rates.create_index([("user_name", ASCENDING), ("window", ASCENDING)], unique=True)
        self.rates.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        self.jobs.create_index([("uid", ASCENDING)], unique=True)
        self.jobs.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)

    @_translated
    def ping(self) -> None:
        self._client.admin.command("ping")

    def sync(self) -> None:
        """Nothing to do: each write returned once its write concern was met."""

    def close(self) -> None:
        self._client.close()

    # ----------------------------------------------------------------- users
    @_translated
    def create_user(self, user: User, token_hash: str) -> None:
        try:
            self.users.insert_one(
                {
                    "user_name": user.name,
                    "is_admin": user.is_admin,
                    "may_query": user.may_query,
                    "token_hash": token_hash,
                }
            )
        except DuplicateKeyError as exc:
            raise Conflict(f"User {user.name!r} already exists.") from exc

    @_translated
    def get_user(self, name: str) -> User | None:
        doc = self.users.find_one({"user_name": name})
        return docs.user_from(doc) if doc else None

    @_translated
    def find_user_by_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        doc = self.users.find_one({"token_hash": token_hash})
        return (docs.user_from(doc), doc["token_hash"]) if doc else None

    @_translated
    def list_users(self) -> list[User]:
        return [docs.user_from(d) for d in self.users.find().sort("user_name", ASCENDING)]

    @_translated
    def list_user_records(self) -> list[tuple[User, str]]:
        found = self.users.find().sort("user_name", ASCENDING)
        return [(docs.user_from(d), d["token_hash"]) for d in found]

    @_translated
    def delete_user(self, name: str) -> bool:
        # Their grants stay: what they spent is not forgotten with the account.
        return self.users.delete_one({"user_name": name}).deleted_count == 1

    @_translated
    def set_may_query(self, name: str, may_query: bool) -> bool:
        result = self.users.update_one({"user_name": name}, {"$set": {"may_query": may_query}})
        return result.matched_count == 1

    @_translated
    def set_token_hash(self, name: str, token_hash: str) -> bool:
        result = self.users.update_one({"user_name": name}, {"$set": {"token_hash": token_hash}})
        return result.matched_count == 1

    # -------------------------------------------------------------- datasets
    @_translated
    def create_dataset(self, dataset: Dataset) -> None:
        doc = docs.dataset_doc(dataset)
        # A retired dataset of that name comes back in this one update (its grants resume).
        if self.datasets.find_one_and_update(
                {"dataset_name": dataset.name, docs.RETIRED: True},
                {"$set": {k: v for k, v in doc.items() if k != "dataset_name"}},
                projection={"_id": 1}) is not None:
            return
        try:
            self.datasets.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict(f"Dataset {dataset.name!r} already exists.") from exc

    @_translated
    def get_dataset(self, name: str) -> Dataset | None:
        doc = self.datasets.find_one({"dataset_name": name, **docs.ACTIVE})
        return docs.dataset_from(doc) if doc else None

    @_translated
    def list_datasets(self) -> list[str]:
        found = self.datasets.find({**docs.ACTIVE}, {"dataset_name": 1}).sort(
            "dataset_name", ASCENDING)
        return [d["dataset_name"] for d in found]

    @_translated
    def list_dataset_records(self) -> list[tuple[Dataset, bool]]:
        found = self.datasets.find().sort("dataset_name", ASCENDING)
        return [(docs.dataset_from(d), bool(d.get(docs.RETIRED))) for d in found]

    @_translated
    def delete_dataset(self, name: str) -> bool:
        # Retired, never removed: its grants keep what was spent on this privacy unit.
        done = self.datasets.update_one({"dataset_name": name, **docs.ACTIVE},
                                        {"$set": {docs.RETIRED: True}})
        return done.matched_count == 1

    # ---------------------------------------------------------------- grants
    @_translated
    def put_grant(self, user: str, dataset: str, initial: PrivacyCost) -> Grant:
        try:
            doc = docs.grant_doc(user, dataset, initial)
            self.grants.insert_one(doc)
            return docs.grant_from(doc)
        except DuplicateKeyError:
            pass
        # Compare-and-set on the initial budget: concurrent spends only $inc
        # spent/remaining, which commutes with shifting remaining here.
        for _ in range(_PUT_GRANT_ATTEMPTS):
            current = self.grants.find_one({"user_name": user, "dataset_name": dataset})
            if current is None:
                return self.put_grant(user, dataset, initial)
            updated = self.grants.find_one_and_update(
                {
                    "_id": current["_id"],
                    "initial_epsilon": current["initial_epsilon"],
                    "initial_delta": current["initial_delta"],
                    "spent_epsilon": {"$lte": initial.epsilon},
                    "spent_delta": {"$lte": initial.delta},
                },
                {
                    "$set": {"initial_epsilon": initial.epsilon, "initial_delta": initial.delta},
                    "$inc": {
                        "remaining_epsilon": initial.epsilon - current["initial_epsilon"],
                        "remaining_delta": initial.delta - current["initial_delta"],
                    },
                },
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None:
                return docs.grant_from(updated)
            latest = self.grants.find_one({"_id": current["_id"]})
            if latest is not None and (
                latest["spent_epsilon"] > initial.epsilon or latest["spent_delta"] > initial.delta
            ):
                raise Conflict("A grant cannot be set below the budget already spent.")
        raise Conflict("The grant changed concurrently; try again.")

    @_translated
    def access(self, user: str, dataset: str) -> tuple[Dataset, Grant] | None:
        """The grant and its dataset in one command (an aggregation with $lookup)."""
        found = next(self.grants.aggregate([
            {"$match": {"user_name": user, "dataset_name": dataset}},
            {"$limit": 1},
            {"$lookup": {"from": "datasets", "localField": "dataset_name",
                         "foreignField": "dataset_name", "as": "datasets"}},
        ]), None)
        active = [d for d in (found or {}).get("datasets", []) if not d.get("retired")]
        if found is None or not active:
            return None
        return docs.dataset_from(active[0]), docs.grant_from(found)

    @_translated
    def top_up_grant(self, user: str, dataset: str, amount: PrivacyCost) -> Grant | None:
        add = {"epsilon": amount.epsilon, "delta": amount.delta}
        doc = self.grants.find_one_and_update(
            {"user_name": user, "dataset_name": dataset,
             "initial_delta": {"$lte": 1.0 - amount.delta}},
            {"$inc": {f"{part}_{k}": v for part in ("initial", "remaining")
                      for k, v in add.items()}},
            return_document=ReturnDocument.AFTER)
        if doc is not None:
            return docs.grant_from(doc)
        if self.get_grant(user, dataset) is None:
            return None
        raise Conflict("A grant's delta cannot be topped up past 1.")

    @_translated
    def get_grant(self, user: str, dataset: str) -> Grant | None:
        doc = self.grants.find_one({"user_name": user, "dataset_name": dataset})
        return docs.grant_from(doc) if doc else None

    @_translated
    def list_grants(self, user: str | None = None) -> list[Grant]:
        query = {"user_name": user} if user else {}
        found = self.grants.find(query).sort([("user_name", 1), ("dataset_name", 1)])
        return [docs.grant_from(d) for d in found]

    @_translated
    def delete_grant(self, user: str, dataset: str) -> bool:
        result = self.grants.delete_one({"user_name": user, "dataset_name": dataset})
        return result.deleted_count == 1

    @_translated
    def spend(self, user: str, dataset: str, cost: PrivacyCost,
              key: str | None = None) -> Grant | None:
        doc = self.grants.find_one_and_update(
            docs.spend_filter(user, dataset, cost, key),
            docs.charge(cost, key=key),
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        for part in ("epsilon", "delta"):
            if doc[f"remaining_{part}"] < 0:  # float slack allowed by the tolerance
                self.grants.update_one(
                    {"_id": doc["_id"], f"remaining_{part}": {"$lt": 0}},
                    {"$set": {f"remaining_{part}": 0.0}},
                )
        return docs.grant_from(doc)

    @_translated
    def charged(self, user: str, dataset: str, key: str) -> bool:
        found = self.grants.find_one(
            {"user_name": user, "dataset_name": dataset, docs.PENDING_KEYS: key}, {"_id": 1})
        return found is not None

    @_translated
    def refund(self, user: str, dataset: str, cost: PrivacyCost, key: str | None = None) -> None:
        query: dict[str, Any] = {"user_name": user, "dataset_name": dataset}
        if key is not None:
            query[docs.PENDING_KEYS] = key  # refunded once, and only if charged under it
        self.grants.update_one(query, docs.charge(cost, sign=-1.0, key=key))

    # -------------------------------------------------------------- archives
    @_translated
    def claim(self, record: ArchiveRecord, now: datetime | None = None) -> ArchiveRecord | None:
        where = {docs.USER_KEY: docs.user_key(record.user, record.idempotency_key)}
        if _insert_new(self.archives, where, docs.archive_doc(record)):
            return None
        if now is not None:  # take over a pending claim whose lease ran out
            taken = self.archives.find_one_and_update(
                {**where, "status": "pending", "fingerprint": record.fingerprint,
                 "lease_until": {"$lt": now}},
                {"$set": {"owner": record.owner, "lease_until": record.lease_until}})
            if taken is not None:
                return None
        doc = self.archives.find_one(where)
        if doc is None:  # released between the insert and the read
            return self.claim(record, now)
        return docs.archive_from(doc)

    @_translated
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
        where: dict[str, Any] = {docs.USER_KEY: docs.user_key(user, key)}
        if owner is not None:
            where.update(owner=owner, status="pending")
        doc = self.archives.find_one_and_update(
            where,
            {
                "$set": {
                    "status": status,
                    "epsilon": cost.epsilon,
                    "delta": cost.delta,
                    "response": response,
                    "error": error,
                },
                "$unset": {"lease_until": ""},
            },
        )
        if doc is None:
            return False
        # The outcome is recorded: the grant need not remember the key any more.
        self.grants.update_one(
            {"user_name": user, "dataset_name": doc["dataset_name"], docs.PENDING_KEYS: key},
            {"$pull": {docs.PENDING_KEYS: key}})
        return True

    @_translated
    def release(self, user: str, key: str, owner: str | None = None) -> None:
        where = {docs.USER_KEY: docs.user_key(user, key), "status": "pending"}
        if owner is not None:
            where["owner"] = owner
        self.archives.delete_one(where)

    @_translated
    def count_request(self, user: str, window: int, expires: datetime) -> int:
        for _ in range(2):  # two first requests of a window may race to insert it
            try:
                doc = self.rates.find_one_and_update(
                    {"user_name": user, "window": window},
                    {"$inc": {"requests": 1}, "$setOnInsert": {"expires_at": expires}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                if doc is not None:  # an upsert returning AFTER always finds its document
                    return int(doc["requests"])
            except DuplicateKeyError:
                continue
        raise StoreUnavailable("The state store is unavailable.")

    # ------------------------------------------------------------------ jobs
    @_translated
    def create_job(self, job: Job) -> Job | None:
        where = {docs.USER_KEY: docs.user_key(job.user, job.idempotency_key)}
        for _ in range(2):  # the other job may expire (TTL) between the insert and the read
            if _insert_new(self.jobs, where, docs.job_doc(job)):
                return None
            doc = self.jobs.find_one(where)
            if doc is not None:
                return docs.job_from(doc)
        raise StoreUnavailable("The state store is unavailable.")

    @_translated
    def get_job(self, uid: str) -> Job | None:
        doc = self.jobs.find_one({"uid": uid})
        return docs.job_from(doc) if doc else None

    @_translated
    def list_jobs_in_progress(self) -> list[Job]:
        found = self.jobs.find({"status": "in_progress"}).sort([("lease_until", 1), ("uid", 1)])
        return [docs.job_from(doc) for doc in found]

    @_translated
    def mark_job_charged(self, uid: str) -> None:
        self.jobs.update_one({"uid": uid}, {"$set": {"charged": True}})

    @_translated
    def start_job(self, uid: str, now: datetime) -> Job | None:
        doc = self.jobs.find_one_and_update(
            {"uid": uid, "status": "in_progress", "started": False, "lease_until": {"$gt": now}},
            {"$set": {"started": True}}, return_document=ReturnDocument.AFTER)
        return docs.job_from(doc) if doc else None

    @_translated
    def finish_job(self, uid: str, *, status: str, expires_at: datetime,
                   result: dict[str, Any] | None = None,
                   error: dict[str, str] | None = None) -> bool:
        done = self.jobs.update_one(
            {"uid": uid, "status": "in_progress"},
            {"$set": {"status": status, "result": result, "error": error,
                      "expires_at": expires_at}})
        return done.modified_count == 1

    @_translated
    def expire_job(self, uid: str, now: datetime, error: dict[str, str],
                   expires_at: datetime) -> Job | None:
        doc = self.jobs.find_one_and_update(
            {"uid": uid, "status": "in_progress", "lease_until": {"$lt": now}},
            {"$set": {"status": "failed", "error": error, "expires_at": expires_at}})
        return docs.job_from(doc) if doc else None

    @_translated
    def list_archives(
        self, user: str | None = None, dataset: str | None = None
    ) -> list[ArchiveRecord]:
        query: dict[str, Any] = {"status": {"$in": ["done", "failed"]}}
        if user:
            query["user_name"] = user
        if dataset:
            query["dataset_name"] = dataset
        found = self.archives.find(query).sort("timestamp", pymongo.ASCENDING)
        return [docs.archive_from(d) for d in found]
