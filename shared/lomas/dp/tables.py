"""Warm per-instance cache of loaded datasets and their SQLite copies.

Loading a table and copying it into SQLite (what SmartNoise-SQL queries) is
the slow part of a query; both are kept per dataset and per data version
(file mtime+size, S3 ETag, HTTP ETag/Last-Modified) in an LRU bounded in
bytes, and built once even under concurrent requests. A cheap revalidation
(stat, HEAD) picks up a changed source on the next query.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lomas_client.models import NAME_PATTERN

from lomas.domain import Dataset
from lomas.ports import DatasetLoader

if TYPE_CHECKING:  # pandas loads with the first table
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class SqlTable:
    """A private table in its own in-memory SQLite database, named df and by dataset."""

    connection: sqlite3.Connection
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, frame: pd.DataFrame, dataset_name: str) -> SqlTable:
        if not re.fullmatch(NAME_PATTERN, dataset_name):
            raise ValueError("dataset names are SQL identifiers")
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        frame.to_sql("df", conn, index=False)
        conn.execute(f'CREATE VIEW "{dataset_name}" AS SELECT * FROM df')  # noqa: S608 - checked
        return cls(conn)

    def size(self) -> int:
        pages = self.connection.execute("PRAGMA page_count").fetchone()[0]
        return int(pages * self.connection.execute("PRAGMA page_size").fetchone()[0])


@dataclass
class CacheStats:
    loads: int = 0
    builds: int = 0
    evictions: int = 0


@dataclass
class CachedData:
    identity: str
    version: str | None
    frame: pd.DataFrame
    checked: float
    frame_bytes: int = 0
    _sql: SqlTable | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size(self) -> int:
        return self.frame_bytes + (self._sql.size() if self._sql else 0)


class TableCache:
    """dataset name -> its data at a version; LRU within max_bytes."""

    def __init__(self, loader: DatasetLoader, max_bytes: int = 4 << 30,
                 revalidate_seconds: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._loader = loader
        self._max_bytes = max_bytes
        self._revalidate = revalidate_seconds
        self._clock = clock
        self._entries: OrderedDict[str, CachedData] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.stats = CacheStats()

    @staticmethod
    def _identity(dataset: Dataset) -> str:
        return dataset.access.model_dump_json() + dataset.metadata.model_dump_json()

    def _lookup(self, dataset: Dataset) -> tuple[CachedData | None, str | None]:
        """The cached entry if still valid, and the source's version (read at most once)."""
        with self._lock:
            entry = self._entries.get(dataset.name)
        if entry is None or entry.identity != self._identity(dataset):
            return None, self._loader.version(dataset)
        now = self._clock()
        if entry.version is not None and now - entry.checked < self._revalidate:
            return entry, entry.version
        version = self._loader.version(dataset)
        if version is None or version != entry.version:
            return None, version
        entry.checked = now
        return entry, version

    def data(self, dataset: Dataset) -> CachedData:
        """The dataset's frame at its current version. Raises DatasetUnavailable."""
        with self._lock:
            loading = self._loading.setdefault(dataset.name, threading.Lock())
        with loading:
            entry, version = self._lookup(dataset)
            if entry is None:
                frame = self._loader.load(dataset)
                entry = CachedData(self._identity(dataset), version, frame, self._clock(),
                                   int(frame.memory_usage(deep=True).sum()))
                with self._lock:
                    self.stats.loads += 1
                    self._entries[dataset.name] = entry
            with self._lock:
                self._entries.move_to_end(dataset.name)
                self._evict()
            return entry

    def sql_of(self, entry: CachedData, dataset_name: str) -> SqlTable:
        """The entry's SQLite copy, built once per version."""
        with entry._lock:
            if entry._sql is None:
                entry._sql = SqlTable.build(entry.frame, dataset_name)
                with self._lock:
                    self.stats.builds += 1
                    self._evict()
            return entry._sql

    def _evict(self) -> None:
        """Drop least recently used entries over the bound; the newest always stays."""
        while len(self._entries) > 1 and sum(e.size for e in self._entries.values()) > \
                self._max_bytes:
            name, _ = self._entries.popitem(last=False)
            self.stats.evictions += 1
            log.info("table cache: evicted %s", name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)
