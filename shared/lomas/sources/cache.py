"""Warm per-instance cache of opened datasets, each a handle ready for the engines.

Opening a dataset (for a file: download, parse, check against its metadata) is the
slow part of a query; the handle is kept per dataset and per data version (file
mtime+size, S3 ETag, HTTP ETag/Last-Modified; a database's is constant) in an LRU
bounded in bytes, and opened once even under concurrent requests. A cheap
revalidation (stat, HEAD) picks up a changed source on the next query.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from lomas.domain import Dataset
from lomas.ports import DatasetSources, Handle

log = logging.getLogger(__name__)


@dataclass
class CacheStats:
    loads: int = 0
    evictions: int = 0


@dataclass
class Entry:
    identity: str
    version: str | None
    handle: Handle
    checked: float


class HandleCache:
    """dataset name -> its handle at a version; LRU within max_bytes."""

    def __init__(self, sources: DatasetSources, max_bytes: int = 4 << 30,
                 revalidate_seconds: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sources = sources
        self._max_bytes = max_bytes
        self._revalidate = revalidate_seconds
        self._clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.stats = CacheStats()

    @staticmethod
    def _identity(dataset: Dataset) -> str:
        return dataset.access.model_dump_json() + dataset.metadata.model_dump_json()

    def _lookup(self, dataset: Dataset) -> tuple[Entry | None, str | None]:
        """The cached entry if still valid, and the source's version (read at most once)."""
        with self._lock:
            entry = self._entries.get(dataset.name)
        if entry is None or entry.identity != self._identity(dataset):
            return None, self._sources.version(dataset)
        now = self._clock()
        if entry.version is not None and now - entry.checked < self._revalidate:
            return entry, entry.version
        version = self._sources.version(dataset)
        if version is None or version != entry.version:
            return None, version
        entry.checked = now
        return entry, version

    def open(self, dataset: Dataset) -> Handle:
        """The dataset's handle at its current version. Raises DatasetUnavailable."""
        with self._lock:
            loading = self._loading.setdefault(dataset.name, threading.Lock())
        with loading:
            entry, version = self._lookup(dataset)
            if entry is None:
                handle = self._sources.open(dataset)
                entry = Entry(self._identity(dataset), version, handle, self._clock())
                with self._lock:
                    self.stats.loads += 1
                    self._put(dataset.name, entry)
            with self._lock:
                self._entries.move_to_end(dataset.name)
                self._evict()
            return entry.handle

    def _put(self, name: str, entry: Entry) -> None:
        """Replace the entry. A handle dropped here is released when its last query ends
        (never closed under a query that still runs on it)."""
        self._entries.pop(name, None)
        self._entries[name] = entry

    def _evict(self) -> None:
        """Drop least recently used entries over the bound; the newest always stays."""
        while len(self._entries) > 1 and sum(e.handle.size for e in self._entries.values()) > \
                self._max_bytes:
            name, _ = self._entries.popitem(last=False)
            self.stats.evictions += 1
            log.info("handle cache: evicted %s", name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)
