"""The SQLite implementation of StateStore (standard library sqlite3, one file, WAL).

Every write is one `BEGIN IMMEDIATE` transaction, so that threads and processes sharing
the file take turns at SQLite's write lock, queued by `_WriterLock`; reads see the last
commit and, in WAL, never wait. `begin`, `take_job` and `end` run ComposedSteps'
operations in one transaction, `access` is one SELECT.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from lomas.adapters.steps import ComposedSteps
from lomas.domain import (
    ArchiveRecord,
    Begin,
    Begun,
    Dataset,
    Grant,
    Job,
    JobEnd,
    PrivacyCost,
    User,
)
from lomas.errors import Conflict, StoreUnavailable
from lomas_contract.models import DatasetAccess, DatasetMetadata

log = logging.getLogger(__name__)

_ACCESS: TypeAdapter[DatasetAccess] = TypeAdapter(DatasetAccess)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (user_name TEXT PRIMARY KEY, is_admin INTEGER NOT NULL,
    may_query INTEGER NOT NULL, token_hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS users_token_hash ON users (token_hash);
CREATE TABLE IF NOT EXISTS datasets (dataset_name TEXT PRIMARY KEY, access TEXT NOT NULL,
    metadata TEXT NOT NULL, retired INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS grants (user_name TEXT NOT NULL, dataset_name TEXT NOT NULL,
    initial_e REAL NOT NULL, initial_d REAL NOT NULL, spent_e REAL NOT NULL,
    spent_d REAL NOT NULL, remaining_e REAL NOT NULL, remaining_d REAL NOT NULL,
    PRIMARY KEY (user_name, dataset_name));
CREATE TABLE IF NOT EXISTS pending_keys (user_name TEXT NOT NULL, dataset_name TEXT NOT NULL,
    idempotency_key TEXT NOT NULL, PRIMARY KEY (user_name, dataset_name, idempotency_key))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS archives (user_name TEXT NOT NULL, idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL, dataset_name TEXT NOT NULL, engine TEXT NOT NULL,
    request TEXT NOT NULL, epsilon REAL NOT NULL, delta REAL NOT NULL, status TEXT NOT NULL,
    response TEXT, error TEXT, timestamp TEXT NOT NULL, owner TEXT NOT NULL, lease_until TEXT,
    PRIMARY KEY (user_name, idempotency_key));
CREATE INDEX IF NOT EXISTS archives_timestamp ON archives (timestamp);
CREATE TABLE IF NOT EXISTS rate_windows (user_name TEXT NOT NULL, window_no INTEGER NOT NULL,
    requests INTEGER NOT NULL, expires_at TEXT NOT NULL, PRIMARY KEY (user_name, window_no));
CREATE TABLE IF NOT EXISTS jobs (uid TEXT PRIMARY KEY, user_name TEXT NOT NULL,
    idempotency_key TEXT NOT NULL, fingerprint TEXT NOT NULL, dataset_name TEXT NOT NULL,
    engine TEXT NOT NULL, request TEXT NOT NULL, epsilon REAL NOT NULL, delta REAL NOT NULL,
    status TEXT NOT NULL, result TEXT, error TEXT, kind TEXT NOT NULL,
    lease_until TEXT NOT NULL, expires_at TEXT NOT NULL, charged INTEGER NOT NULL,
    started INTEGER NOT NULL, created_at TEXT NOT NULL, UNIQUE (user_name, idempotency_key));
CREATE INDEX IF NOT EXISTS jobs_expires_at ON jobs (expires_at);
PRAGMA user_version = 1;
"""
_SPEND = """UPDATE grants SET spent_e = spent_e + :e, spent_d = spent_d + :d,
    remaining_e = max(remaining_e - :e, 0.0), remaining_d = max(remaining_d - :d, 0.0)
    WHERE user_name = :user AND dataset_name = :dataset
    AND remaining_e >= :floor_e AND remaining_d >= :floor_d
    AND NOT EXISTS (SELECT 1 FROM pending_keys WHERE user_name = :user
                    AND dataset_name = :dataset AND idempotency_key = :key)
    RETURNING *"""
_PUT_GRANT = """INSERT INTO grants VALUES (:user, :dataset, :e, :d, 0.0, 0.0, :e, :d)
    ON CONFLICT DO UPDATE SET initial_e = excluded.initial_e, initial_d = excluded.initial_d,
    remaining_e = max(remaining_e + excluded.initial_e - initial_e, 0.0),
    remaining_d = max(remaining_d + excluded.initial_d - initial_d, 0.0)
    WHERE spent_e <= excluded.initial_e AND spent_d <= excluded.initial_d
    RETURNING *"""
_TOP_UP = """UPDATE grants SET initial_e = initial_e + :e, initial_d = initial_d + :d,
    remaining_e = remaining_e + :e, remaining_d = remaining_d + :d
    WHERE user_name = :user AND dataset_name = :dataset AND initial_d + :d <= 1.0
    RETURNING *"""
_CLAIM = """INSERT INTO archives VALUES (:user_name, :idempotency_key, :fingerprint,
    :dataset_name, :engine, :request, :epsilon, :delta, :status, :response, :error,
    :timestamp, :owner, :lease_until) ON CONFLICT DO NOTHING RETURNING 1"""
_TAKE_OVER = """UPDATE archives SET owner = :owner, lease_until = :lease_until
    WHERE user_name = :user_name AND idempotency_key = :idempotency_key
    AND status = 'pending' AND fingerprint = :fingerprint AND lease_until < :now"""
_FINISH = """UPDATE archives SET status = :status, epsilon = :e, delta = :d,
    response = :response, error = :error, lease_until = NULL
    WHERE user_name = :user AND idempotency_key = :key
    AND (:owner IS NULL OR (owner = :owner AND status = 'pending'))
    RETURNING dataset_name"""
_CREATE_JOB = """INSERT INTO jobs VALUES (:uid, :user_name, :idempotency_key, :fingerprint,
    :dataset_name, :engine, :request, :epsilon, :delta, :status, :result, :error, :kind,
    :lease_until, :expires_at, :charged, :started, :created_at)
    ON CONFLICT (user_name, idempotency_key) DO NOTHING RETURNING 1"""


@contextmanager
def _translated() -> Iterator[None]:
    """Turn SQLite's errors (locked, disk I/O, cannot open, not a database) and the file
    system's (the writer lock's file, the WAL's sync) into StoreUnavailable; the cause goes
    to the log only. Integrity and programming errors are bugs: they pass."""
    try:
        yield
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
        raise
    except (sqlite3.DatabaseError, OSError) as exc:
        log.error("state store error: %s", exc)
        raise StoreUnavailable("The state store is unavailable.") from exc


def _ts(at: datetime | None) -> str | None:
    """Fixed-width ISO-8601 UTC text, whose order as text is the order in time."""
    return at.astimezone(UTC).isoformat(timespec="microseconds") if at else None


_at = datetime.fromisoformat


def _json(value: Any) -> str | None:
    return json.dumps(value) if value is not None else None


def _load(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _first(cursor: sqlite3.Cursor) -> sqlite3.Row | None:
    rows = cursor.fetchall()  # RETURNING: the statement runs to its end before COMMIT
    return rows[0] if rows else None


def _user(row: sqlite3.Row) -> User:
    return User(row["user_name"], bool(row["is_admin"]), bool(row["may_query"]))


def _dataset(row: sqlite3.Row) -> Dataset:
    return Dataset(row["dataset_name"], _ACCESS.validate_json(row["access"]),
                   DatasetMetadata.model_validate_json(row["metadata"]))


def _grant(row: sqlite3.Row) -> Grant:
    def pair(prefix: str) -> PrivacyCost:
        return PrivacyCost(max(row[f"{prefix}_e"], 0.0), max(row[f"{prefix}_d"], 0.0))

    return Grant(row["user_name"], row["dataset_name"], pair("initial"), pair("spent"),
                 pair("remaining"))


def _keyed(item: ArchiveRecord | Job) -> dict[str, Any]:
    """The columns archives and jobs share: a request under a (user, Idempotency-Key)."""
    return {"user_name": item.user, "idempotency_key": item.idempotency_key,
            "fingerprint": item.fingerprint, "dataset_name": item.dataset,
            "engine": item.engine, "request": json.dumps(item.request),
            "epsilon": item.cost.epsilon, "delta": item.cost.delta, "status": item.status,
            "error": _json(item.error), "lease_until": _ts(item.lease_until)}


def _keyed_from(row: sqlite3.Row) -> dict[str, Any]:
    return {"user": row["user_name"], "idempotency_key": row["idempotency_key"],
            "fingerprint": row["fingerprint"], "dataset": row["dataset_name"],
            "engine": row["engine"], "request": json.loads(row["request"]),
            "cost": PrivacyCost(row["epsilon"], row["delta"]), "status": row["status"],
            "error": _load(row["error"])}


def _archive(row: sqlite3.Row) -> ArchiveRecord:
    lease = row["lease_until"]
    return ArchiveRecord(**_keyed_from(row), response=_load(row["response"]),
                         timestamp=_at(row["timestamp"]), owner=row["owner"],
                         lease_until=_at(lease) if lease else None)


def _job(row: sqlite3.Row) -> Job:
    return Job(**_keyed_from(row), uid=row["uid"], kind=row["kind"],
               result=_load(row["result"]), lease_until=_at(row["lease_until"]),
               expires_at=_at(row["expires_at"]), charged=bool(row["charged"]),
               started=bool(row["started"]), created_at=_at(row["created_at"]))


_BUSY = "The state store is busy: no turn to write in time."


class _WriterLock:
    """Whose turn it is to write: one thread of this process (a lock), then one process
    (an flock on a file beside the database), before BEGIN IMMEDIATE.

    Left to SQLite, a writer that finds the lock taken sleeps in its busy handler for 1,
    2, 5, 10, 15 ms and more, while a transaction holds it for about a millisecond: with
    8 researchers on 2 workers, the p99 of a query was 300 to 600 ms. Here a thread waits
    on the lock's own wake-up, and a process polls the flock every 0.1 to 2 ms: a p99 of
    160 to 250 ms, the same throughput (`make bench`, four runs each). Either wait ends
    after `timeout_s` with StoreUnavailable; a killed process's flock goes with it.
    """

    def __init__(self, path: Path, timeout_s: float) -> None:
        self._path, self._timeout_s = path, timeout_s
        self._thread = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        deadline = time.monotonic() + self._timeout_s
        if not self._thread.acquire(timeout=self._timeout_s):
            raise StoreUnavailable(_BUSY)
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fd, pause = self._fd, 0.0001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreUnavailable(_BUSY) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()

    def close(self) -> None:
        with self._thread:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class _Held:
    """One thread's connection; closed when that thread ends (its local is dropped)."""

    __slots__ = ("__weakref__", "db", "generation")

    def __init__(self, db: sqlite3.Connection, generation: int) -> None:
        self.db, self.generation = db, generation
        weakref.finalize(self, db.close)


class SqliteStore(ComposedSteps):
    """Users, datasets, grants, archives, rate windows and jobs in one SQLite file."""

    def __init__(self, path: Path | str, timeout_s: float = 5.0) -> None:
        """A store in the file `path`, which `open` creates; one connection per thread,
        each waiting up to `timeout_s` for the write lock."""
        self.path = Path(path)
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._held: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._generation = 0
        self._writer = _WriterLock(self.path.with_name(self.path.name + ".writer"), timeout_s)

    @classmethod
    def open(cls, path: Path | str, timeout_s: float = 5.0) -> SqliteStore:
        """The store in `path`, its folders, file and schema created if missing. Raises
        StoreUnavailable."""
        store = cls(path, timeout_s)
        store.path.parent.mkdir(parents=True, exist_ok=True)
        store._create_schema()
        return store

    def _create_schema(self) -> None:
        with _translated(), closing(self._connect(create=True)) as db:
            db.execute("PRAGMA journal_mode = WAL")  # kept in the file
            db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")

    def _connect(self, create: bool = False) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode={'rwc' if create else 'rw'}"
        db = sqlite3.connect(uri, uri=True, timeout=self._timeout_s, isolation_level=None,
                             check_same_thread=False)  # close() may close it from elsewhere
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(self._timeout_s * 1000)}")
        # FULL: each commit is on disk before the answer it records leaves. NORMAL would
        # survive a process crash, but a power or OS failure could undo a spend or an
        # archived outcome already released, and a retry would then release a second
        # answer under one charge. A commit waits for the disk (fdatasync of the WAL):
        # 0.25 ms alone, about 0.9 ms under load on the development machine.
        # `_write(durable=False)` is for the steps after which nothing leaves before a
        # FULL commit that syncs them with it (the WAL is synced whole).
        db.execute("PRAGMA synchronous = FULL")
        return db

    def _db(self) -> sqlite3.Connection:
        held: _Held | None = getattr(self._local, "held", None)
        if held is None or held.generation != self._generation:
            held = self._local.held = _Held(self._connect(), self._generation)
            with self._lock:
                self._held.add(held)
        return held.db

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; inside another (a step of `begin`, `end`), that one.

        durable=False: its commit does not wait for the disk. Only for a step that the
        same request follows with a durable one before anything leaves the server: that
        commit's sync of the WAL puts both on disk. A power failure between them loses
        both, while nothing had been released.
        """
        with _translated():
            db = self._db()
            if db.in_transaction:  # isolation_level None: only our BEGIN opens one
                yield db
                return
            with self._synchronous(db, durable), self._writer.held(), self._transaction(db):
                yield db

    def _forget_on_error(self, db: sqlite3.Connection, sql: str) -> None:
        """Run `sql`; a connection it fails on is dropped (the next call opens another)."""
        try:
            db.execute(sql)
        except sqlite3.Error:
            self._local.held = None

    @contextmanager
    def _synchronous(self, db: sqlite3.Connection, durable: bool) -> Iterator[None]:
        """The commit inside at FULL (durable) or NORMAL; the connection left at FULL."""
        if durable:
            yield
            return
        db.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            self._forget_on_error(db, "PRAGMA synchronous = FULL")

    @contextmanager
    def _transaction(self, db: sqlite3.Connection) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                self._forget_on_error(db, "ROLLBACK")
            raise

    def _read(self, sql: str, *params: object) -> list[sqlite3.Row]:
        with _translated():
            return self._db().execute(sql, params).fetchall()

    def _change(self, sql: str, *params: object) -> bool:
        """One write; whether it changed a row."""
        with self._write() as db:
            return db.execute(sql, params).rowcount > 0

    def close(self) -> None:
        """Close every connection this store opened; a later call opens another."""
        with self._lock:
            held, self._generation = list(self._held), self._generation + 1
            self._held.clear()
        for each in held:
            each.db.close()
        self._writer.close()

    def ping(self) -> None:
        self._read("SELECT 1")

    def sync(self) -> None:
        """The WAL on disk (fdatasync, as a FULL commit does), the commits that did not
        wait for it included. Raises StoreUnavailable."""
        with _translated():
            try:
                fd = os.open(self.path.with_name(self.path.name + "-wal"), os.O_RDONLY)
            except FileNotFoundError:  # no WAL: every commit is in the file, synced
                return
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)

    def create_user(self, user: User, token_hash: str) -> None:
        with self._write() as db:
            done = _first(db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                (user.name, user.is_admin, user.may_query, token_hash)))
        if done is None:
            raise Conflict(f"User {user.name!r} already exists.")

    def get_user(self, name: str) -> User | None:
        rows = self._read("SELECT * FROM users WHERE user_name = ?", name)
        return _user(rows[0]) if rows else None

    def find_user_by_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        rows = self._read("SELECT * FROM users WHERE token_hash = ?", token_hash)
        return (_user(rows[0]), rows[0]["token_hash"]) if rows else None

    def list_users(self) -> list[User]:
        return [user for user, _ in self.list_user_records()]

    def list_user_records(self) -> list[tuple[User, str]]:
        rows = self._read("SELECT * FROM users ORDER BY user_name")
        return [(_user(row), row["token_hash"]) for row in rows]

    def delete_user(self, name: str) -> bool:
        return self._change("DELETE FROM users WHERE user_name = ?", name)

    def set_may_query(self, name: str, may_query: bool) -> bool:
        return self._change("UPDATE users SET may_query = ? WHERE user_name = ?",
                            may_query, name)

    def set_token_hash(self, name: str, token_hash: str) -> bool:
        return self._change("UPDATE users SET token_hash = ? WHERE user_name = ?",
                            token_hash, name)

    def create_dataset(self, dataset: Dataset) -> None:
        with self._write() as db:
            done = _first(db.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, 0) ON CONFLICT DO UPDATE SET "
                "access = excluded.access, metadata = excluded.metadata, retired = 0 "
                "WHERE retired = 1 RETURNING 1",
                (dataset.name, dataset.access.model_dump_json(),
                 dataset.metadata.model_dump_json(exclude_none=True))))
        if done is None:
            raise Conflict(f"Dataset {dataset.name!r} already exists.")

    def get_dataset(self, name: str) -> Dataset | None:
        rows = self._read("SELECT * FROM datasets WHERE dataset_name = ? AND retired = 0",
                          name)
        return _dataset(rows[0]) if rows else None

    def list_datasets(self) -> list[str]:
        rows = self._read(
            "SELECT dataset_name FROM datasets WHERE retired = 0 ORDER BY dataset_name")
        return [row[0] for row in rows]

    def list_dataset_records(self) -> list[tuple[Dataset, bool]]:
        rows = self._read("SELECT * FROM datasets ORDER BY dataset_name")
        return [(_dataset(row), bool(row["retired"])) for row in rows]

    def delete_dataset(self, name: str) -> bool:
        return self._change(
            "UPDATE datasets SET retired = 1 WHERE dataset_name = ? AND retired = 0", name)

    def put_grant(self, user: str, dataset: str, initial: PrivacyCost) -> Grant:
        with self._write() as db:  # one upsert: no read-then-write race with spends
            row = _first(db.execute(_PUT_GRANT, {"user": user, "dataset": dataset,
                                                 "e": initial.epsilon, "d": initial.delta}))
        if row is None:
            raise Conflict("A grant cannot be set below the budget already spent.")
        return _grant(row)

    def top_up_grant(self, user: str, dataset: str, amount: PrivacyCost) -> Grant | None:
        with self._write() as db:
            row = _first(db.execute(_TOP_UP, {"user": user, "dataset": dataset,
                                              "e": amount.epsilon, "d": amount.delta}))
        if row is not None:
            return _grant(row)
        if self.get_grant(user, dataset) is None:
            return None
        raise Conflict("A grant's delta cannot be topped up past 1.")

    def get_grant(self, user: str, dataset: str) -> Grant | None:
        rows = self._read("SELECT * FROM grants WHERE user_name = ? AND dataset_name = ?",
                          user, dataset)
        return _grant(rows[0]) if rows else None

    def list_grants(self, user: str | None = None) -> list[Grant]:
        rows = self._read("SELECT * FROM grants WHERE ?1 IS NULL OR user_name = ?1 "
                          "ORDER BY user_name, dataset_name", user)
        return [_grant(row) for row in rows]

    def delete_grant(self, user: str, dataset: str) -> bool:
        with self._write() as db:  # a grant given again later owes nothing to this one
            db.execute("DELETE FROM pending_keys WHERE user_name = ? AND dataset_name = ?",
                       (user, dataset))
            return db.execute("DELETE FROM grants WHERE user_name = ? AND dataset_name = ?",
                              (user, dataset)).rowcount > 0

    def spend(self, user: str, dataset: str, cost: PrivacyCost,
              key: str | None = None) -> Grant | None:
        floor = cost.allowance()
        with self._write() as db:
            row = _first(db.execute(_SPEND, {
                "user": user, "dataset": dataset, "key": key, "e": cost.epsilon,
                "d": cost.delta, "floor_e": floor.epsilon, "floor_d": floor.delta}))
            if row is not None and key is not None:
                db.execute("INSERT INTO pending_keys VALUES (?, ?, ?)", (user, dataset, key))
        return _grant(row) if row else None

    def charged(self, user: str, dataset: str, key: str) -> bool:
        return bool(self._read("SELECT 1 FROM pending_keys WHERE user_name = ? "
                               "AND dataset_name = ? AND idempotency_key = ?",
                               user, dataset, key))

    def refund(self, user: str, dataset: str, cost: PrivacyCost, key: str | None = None) -> None:
        with self._write() as db:
            if key is not None and not db.execute(
                    "DELETE FROM pending_keys WHERE user_name = ? AND dataset_name = ? "
                    "AND idempotency_key = ?", (user, dataset, key)).rowcount:
                return  # refunded once, and only if charged under it
            db.execute(
                "UPDATE grants SET spent_e = max(spent_e - ?1, 0.0), "
                "spent_d = max(spent_d - ?2, 0.0), remaining_e = remaining_e + ?1, "
                "remaining_d = remaining_d + ?2 WHERE user_name = ?3 AND dataset_name = ?4",
                (cost.epsilon, cost.delta, user, dataset))

    def claim(self, record: ArchiveRecord, now: datetime | None = None) -> ArchiveRecord | None:
        row = {**_keyed(record), "response": _json(record.response),
               "timestamp": _ts(record.timestamp), "owner": record.owner, "now": _ts(now)}
        with self._write() as db:
            if _first(db.execute(_CLAIM, row)) is not None:
                return None
            if now is not None and db.execute(_TAKE_OVER, row).rowcount:
                return None  # a pending claim of this request whose lease ran out
            [existing] = db.execute(
                "SELECT * FROM archives WHERE user_name = ? AND idempotency_key = ?",
                (record.user, record.idempotency_key)).fetchall()
        return _archive(existing)

    def finish(self, user: str, key: str, *, status: str, cost: PrivacyCost,
               response: dict[str, Any] | None = None, error: dict[str, str] | None = None,
               owner: str | None = None) -> bool:
        with self._write() as db:
            row = _first(db.execute(_FINISH, {
                "status": status, "e": cost.epsilon, "d": cost.delta,
                "response": _json(response), "error": _json(error), "user": user,
                "key": key, "owner": owner}))
            if row is None:
                return False
            # The outcome is recorded: the grant need not remember the key any more.
            db.execute("DELETE FROM pending_keys WHERE user_name = ? AND dataset_name = ? "
                       "AND idempotency_key = ?", (user, row[0], key))
        return True

    def release(self, user: str, key: str, owner: str | None = None) -> None:
        self._change("DELETE FROM archives WHERE user_name = ?1 AND idempotency_key = ?2 "
                     "AND status = 'pending' AND (?3 IS NULL OR owner = ?3)", user, key, owner)

    def list_archives(self, user: str | None = None,
                      dataset: str | None = None) -> list[ArchiveRecord]:
        rows = self._read(
            "SELECT * FROM archives WHERE status IN ('done', 'failed') "
            "AND (?1 IS NULL OR user_name = ?1) AND (?2 IS NULL OR dataset_name = ?2) "
            "ORDER BY timestamp, rowid", user, dataset)
        return [_archive(row) for row in rows]

    def count_request(self, user: str, window: int, expires: datetime) -> int:
        with self._write() as db:
            db.execute("DELETE FROM rate_windows WHERE user_name = ? AND window_no < ?",
                       (user, window))  # the user's earlier windows: expired
            [row] = db.execute(
                "INSERT INTO rate_windows VALUES (?, ?, 1, ?) ON CONFLICT DO UPDATE "
                "SET requests = requests + 1 RETURNING requests",
                (user, window, _ts(expires))).fetchall()
        return int(row[0])

    def create_job(self, job: Job) -> Job | None:
        row = {**_keyed(job), "uid": job.uid, "kind": job.kind, "result": _json(job.result),
               "expires_at": _ts(job.expires_at), "charged": job.charged,
               "started": job.started, "created_at": _ts(job.created_at)}
        with self._write() as db:
            # MongoDB's TTL index, lazily: the jobs past their expiry go (first, so that
            # an expired job does not hold its key).
            db.execute("DELETE FROM jobs WHERE expires_at < ?", (_ts(datetime.now(UTC)),))
            if _first(db.execute(_CREATE_JOB, row)) is not None:
                return None
            [existing] = db.execute(
                "SELECT * FROM jobs WHERE user_name = ? AND idempotency_key = ?",
                (job.user, job.idempotency_key)).fetchall()
        return _job(existing)

    def get_job(self, uid: str) -> Job | None:
        rows = self._read("SELECT * FROM jobs WHERE uid = ? AND expires_at >= ?",
                          uid, _ts(datetime.now(UTC)))
        return _job(rows[0]) if rows else None

    def list_jobs_in_progress(self) -> list[Job]:
        rows = self._read("SELECT * FROM jobs WHERE status = 'in_progress' AND expires_at >= ? "
                          "ORDER BY lease_until, uid", _ts(datetime.now(UTC)))
        return [_job(row) for row in rows]

    def mark_job_charged(self, uid: str) -> None:
        self._change("UPDATE jobs SET charged = 1 WHERE uid = ?", uid)

    def start_job(self, uid: str, now: datetime) -> Job | None:
        with self._write() as db:
            row = _first(db.execute(
                "UPDATE jobs SET started = 1 WHERE uid = ? AND status = 'in_progress' "
                "AND started = 0 AND lease_until > ? RETURNING *", (uid, _ts(now))))
        return _job(row) if row else None

    def finish_job(self, uid: str, *, status: str, expires_at: datetime,
                   result: dict[str, Any] | None = None,
                   error: dict[str, str] | None = None) -> bool:
        return self._change(
            "UPDATE jobs SET status = ?, result = ?, error = ?, expires_at = ? "
            "WHERE uid = ? AND status = 'in_progress'",
            status, _json(result), _json(error), _ts(expires_at), uid)

    def expire_job(self, uid: str, now: datetime, error: dict[str, str],
                   expires_at: datetime) -> Job | None:
        with self._write() as db:
            before = _first(db.execute(
                "SELECT * FROM jobs WHERE uid = ? AND status = 'in_progress' "
                "AND lease_until < ?", (uid, _ts(now))))
            if before is not None:
                db.execute("UPDATE jobs SET status = 'failed', error = ?, expires_at = ? "
                           "WHERE uid = ?", (_json(error), _ts(expires_at), uid))
        return _job(before) if before else None

    def access(self, user: str, dataset: str) -> tuple[Dataset, Grant] | None:
        rows = self._read(
            "SELECT g.*, d.access, d.metadata FROM grants g JOIN datasets d "
            "ON d.dataset_name = g.dataset_name WHERE g.user_name = ? "
            "AND g.dataset_name = ? AND d.retired = 0", user, dataset)
        return (_dataset(rows[0]), _grant(rows[0])) if rows else None

    def begin(self, step: Begin) -> Begun:
        """ComposedSteps.begin's operations, in one transaction, waiting for no disk: the
        `end` that follows does before an answer leaves, and a job's 202 leaves after
        `sync`."""
        with self._write(durable=False):
            return ComposedSteps.begin(self, step)

    def take_job(self, uid: str, now: datetime) -> tuple[Job, Dataset | None] | None:
        """ComposedSteps.take_job's operations, in one transaction, waiting for no disk:
        the job's `end` does, before its result can be read (lost, the job is taken
        again, under the spend its `begin` made durable)."""
        with self._write(durable=False):
            return ComposedSteps.take_job(self, uid, now)

    def end(self, user: str, key: str, *, status: str, cost: PrivacyCost,
            response: dict[str, Any] | None = None, error: dict[str, str] | None = None,
            owner: str | None = None, job: JobEnd | None = None) -> bool:
        """ComposedSteps.end's operations, in one transaction."""
        with self._write():
            return ComposedSteps.end(self, user, key, status=status, cost=cost,
                                     response=response, error=error, owner=owner, job=job)
