"""Warm per-instance cache of loaded datasets and their SQLite copies.

Loading a table and copying it into SQLite (what SmartNoise-SQL queries) is
the slow part of a query; both are kept per dataset and per data version,
in a small LRU, and built once even under concurrent requests.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import pandas as pd
from lomas_client.models import NAME_PATTERN

from lomas.domain import Dataset
from lomas.ports import DatasetLoader

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


@dataclass
class CachedData:
    version: str
    frame: pd.DataFrame
    _sql: SqlTable | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sql(self, dataset_name: str, stats: CacheStats) -> SqlTable:
        with self._lock:
            if self._sql is None:
                self._sql = SqlTable.build(self.frame, dataset_name)
                stats.builds += 1
            return self._sql


@dataclass
class CacheStats:
    loads: int = 0
    builds: int = 0


class TableCache:
    """LRU of (dataset name -> data at a version); a new version reloads."""

    def __init__(self, loader: DatasetLoader, size: int = 4) -> None:
        self._loader = loader
        self._size = max(size, 1)
        self._entries: OrderedDict[str, CachedData] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.stats = CacheStats()

    def data(self, dataset: Dataset) -> CachedData:
        """The dataset's frame at its current version. Raises DatasetUnavailable."""
        version = self._loader.version(dataset)
        with self._lock:
            loading = self._loading.setdefault(dataset.name, threading.Lock())
        with loading:
            with self._lock:
                entry = self._entries.get(dataset.name)
                if entry is not None and entry.version == version:
                    self._entries.move_to_end(dataset.name)
                    return entry
            frame = self._loader.load(dataset)
            entry = CachedData(version, frame)
            with self._lock:
                self.stats.loads += 1
                self._entries[dataset.name] = entry
                self._entries.move_to_end(dataset.name)
                while len(self._entries) > self._size:
                    evicted, _ = self._entries.popitem(last=False)
                    log.info("table cache: evicted %s", evicted)
            return entry

    def sql(self, dataset: Dataset) -> SqlTable:
        return self.data(dataset).sql(dataset.name, self.stats)

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)
