"""A dataset held as a pandas frame in memory, as engines read it: the handle of dummy
data (private files are scanned in place: `lomas.data.scan`).

SQL runs in DuckDB over the frame where it is (nothing copied, `duck.SqlTable`), made
once per handle; polars reads the same Arrow-backed columns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lomas.domain import Capability

if TYPE_CHECKING:  # pandas, polars and DuckDB load with the first table
    import pandas as pd
    import polars as pl

    from lomas.data.duck import SqlTable

SAMPLE_ROWS = 10_000


def frame_bytes(frame: pd.DataFrame) -> int:
    """The frame's memory, for the cache's bound: exact for numeric and Arrow columns,
    estimated from a sample for Python-object columns (measuring every string takes
    ~0.7 s at 1M rows; the sample, milliseconds)."""
    shallow = frame.memory_usage(index=False, deep=False)
    objects = [c for c in frame.columns if frame[c].dtype == object]
    if not objects or len(frame) <= SAMPLE_ROWS:
        return int(frame.memory_usage(index=False, deep=True).sum())
    sample = frame[objects].iloc[:SAMPLE_ROWS].memory_usage(index=False, deep=True)
    scale = len(frame) / SAMPLE_ROWS
    return int(shallow.drop(objects).sum() + (sample * scale).sum())


@dataclass(frozen=True)
class Session:
    """A connection SmartNoise-SQL's reader of `dialect` runs on, for one execution (DuckDB
    speaks postgres)."""

    connection: Any
    dialect: str = "postgres"


class FrameHandle:
    """One dataset version as a frame; its SQL table and polars frame made on first use."""

    offers = frozenset(Capability)

    def __init__(self, frame: pd.DataFrame, name: str, *, dummy: bool = False) -> None:
        self.name = name
        self._frame = frame
        self.dummy = dummy
        self.size = frame_bytes(frame)
        self._sql: SqlTable | None = None
        self._polars: pl.DataFrame | None = None
        self._lock = threading.Lock()

    def _table(self) -> SqlTable:
        with self._lock:
            if self._sql is None:
                from lomas.data.duck import SqlTable

                self._sql = SqlTable(self._frame, self.name, dummy=self.dummy)
            return self._sql

    @contextmanager
    def sql(self) -> Iterator[Session]:
        """The table's DuckDB connection, its lock held for the execution (a DuckDB
        connection is not thread-safe; a few milliseconds once the noise scales are known)."""
        table = self._table()
        with table.lock:
            yield Session(table.connection)

    @contextmanager
    def plan(self) -> Iterator[Session]:
        """A session whose statements DuckDB plans (EXPLAIN) but does not run."""
        table = self._table()
        with table.lock:
            yield Session(table.connection.planner())

    def lazy(self) -> pl.LazyFrame:
        with self._lock:
            if self._polars is None:
                import polars as pl

                self._polars = pl.from_pandas(self._frame, nan_to_null=True)
            return self._polars.lazy()

    def frame(self) -> pd.DataFrame:
        return self._frame

    def close(self) -> None:
        """Nothing to release: the frame goes with the last reference to it."""
