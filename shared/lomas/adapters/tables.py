"""Warm per-instance cache of loaded datasets, each ready for the DP engines.

Loading a table (download, parse, check against its metadata) is the slow part of
a query; it is kept per dataset and per data version (file mtime+size, S3 ETag,
HTTP ETag/Last-Modified) in an LRU bounded in bytes, and loaded once even under
concurrent requests. A cheap revalidation (stat, HEAD) picks up a changed source
on the next query. An entry hands the engines what they read: the frame (OpenDP)
and, built once per version, its DuckDB table (SmartNoise-SQL), which scans the
frame in place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lomas.domain import Dataset
from lomas.ports import DatasetLoader

if TYPE_CHECKING:  # pandas and DuckDB load with the first table
    import pandas as pd

    from lomas.dp.sql_table import SqlTable

log = logging.getLogger(__name__)


@dataclass
class CacheStats:
    loads: int = 0
    evictions: int = 0


@dataclass
class CachedData:
    """One dataset version: its frame, and its SQL table once an engine asked for it."""

    name: str
    identity: str
    version: str | None
    frame: pd.DataFrame
    checked: float
    size: int = 0  # the frame's bytes: the SQL table scans it and copies nothing
    _sql: SqlTable | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sql_table(self) -> SqlTable:
        """The version's table for SmartNoise-SQL, made once."""
        with self._lock:
            if self._sql is None:
                from lomas.dp.sql_table import SqlTable

                self._sql = SqlTable(self.frame, self.name)
            return self._sql


SAMPLE_ROWS = 10_000


def frame_bytes(frame: pd.DataFrame) -> int:
    """The frame's memory, for the LRU bound: exact for numeric and Arrow columns, estimated
    from a sample for Python-object columns (measuring every string takes ~0.7 s at 1M
    rows; the sample, milliseconds)."""
    shallow = frame.memory_usage(index=False, deep=False)
    objects = [c for c in frame.columns if frame[c].dtype == object]
    if not objects or len(frame) <= SAMPLE_ROWS:
        return int(frame.memory_usage(index=False, deep=True).sum())
    sample = frame[objects].iloc[:SAMPLE_ROWS].memory_usage(index=False, deep=True)
    scale = len(frame) / SAMPLE_ROWS
    return int(shallow.drop(objects).sum() + (sample * scale).sum())


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
                entry = CachedData(dataset.name, self._identity(dataset), version, frame,
                                   self._clock(), frame_bytes(frame))
                with self._lock:
                    self.stats.loads += 1
                    self._entries[dataset.name] = entry
            with self._lock:
                self._entries.move_to_end(dataset.name)
                self._evict()
            return entry

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
