"""The SQL backends a dataset can be served from, side by side with SmartNoise's reference.

Each backend is reached the way Lomas reaches it (DuckDB over a frame or over the
Parquet file in place, PostgreSQL through an aliased read-only session, Spark through
the connection that collects once), behind a recording of the SQL SmartNoise sends, so
that a test can run that exact SQL again and compare what each backend computed.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import snsql

from lomas.engines.smartnoise_sql.execution import snsql_metadata
from lomas_contract.models import DatasetMetadata


class Recording:
    """A DB-API connection that records the SQL SmartNoise sends it."""

    def __init__(self, connection: Any) -> None:
        self.connection, self.sent = connection, []
        outer = self

        class Cursor:
            def __init__(self) -> None:
                self.inner = connection.cursor()

            def execute(self, sql: str) -> Any:
                outer.sent.append(sql)
                return self.inner.execute(sql)

            @property
            def description(self) -> Any:
                return self.inner.description

            def __iter__(self) -> Any:
                return iter(self.inner)

        self.cursor = Cursor

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()


class SparkRecording:
    """Lomas's Spark connection (rows collected once on the driver), recording the SQL."""

    def __init__(self, session: Any, prefix: str) -> None:
        from lomas.sources.spark.session import SparkConnection

        self.inner, self.sent = SparkConnection(session, prefix), []

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        self.sent.append(query)
        return self.inner.sql(query)


def sqlite_reference(frame: pd.DataFrame, name: str) -> Recording:
    """SmartNoise's own path: the table copied into SQLite (what snsql.from_df does)."""
    reference = sqlite3.connect(":memory:", check_same_thread=False)
    frame.to_sql("df", reference, index=False)
    reference.execute(f"CREATE VIEW {name} AS SELECT * FROM df")
    return Recording(reference)


@contextmanager
def postgres(db: Any, frame: pd.DataFrame, name: str, metadata: DatasetMetadata
             ) -> Iterator[Recording]:
    """The frame as a PostgreSQL table, through the session a PostgreSQL dataset gets."""
    import psycopg

    from lomas.sources.postgres.session import ViewConnection, aliases

    table = db.load(name, frame)
    with psycopg.connect(db.reader_dsn()) as conn:
        conn.read_only = True
        yield Recording(ViewConnection(conn, aliases(table, list(metadata.columns),
                                                     ["df", name])))


def spark(session: Any, path: str, name: str, metadata: DatasetMetadata) -> SparkRecording:
    """Parquet files read by Spark, through the connection a Spark dataset gets."""
    from lomas.sources.spark.session import SparkHandle
    from lomas_contract.sources.spark import SparkAccess

    handle = SparkHandle(session, SparkAccess(path=path), name, list(metadata.columns))
    return SparkRecording(session, handle._prefix)


def reader(connection: Any, dialect: str, name: str, metadata: DatasetMetadata,
           epsilon: float = 1.0, delta: float = 1e-5) -> Any:
    return snsql.from_connection(connection, engine=dialect,
                                 privacy=snsql.Privacy(epsilon=epsilon, delta=delta),
                                 metadata=snsql_metadata(name, metadata))


def exact_rows(recording: Any, query: str) -> list[tuple[Any, ...]]:
    """What the backend returns for a query, exactly (no DP)."""
    if isinstance(recording, SparkRecording):
        return recording.inner.sql(query)[1:]
    cursor = recording.connection.cursor()
    cursor.execute(query)
    return list(cursor)


def plain(value: Any) -> Any:
    """One representation of a value every backend returns (SQLite has no bool or date)."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return pd.Timestamp(value).isoformat(sep=" ")
    if hasattr(value, "is_integer") and not isinstance(value, int) and value.is_integer():
        return int(value)
    if hasattr(value, "__float__") and not isinstance(value, int | float | str):
        return float(value)  # Decimal, numpy scalars
    return value


def rows(found: list[Any]) -> list[tuple[Any, ...]]:
    return sorted((tuple(plain(v) for v in row) for row in found), key=repr)


def close(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], rel: float,
          absolute: float = 1e-9) -> bool:
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            if isinstance(x, int | float) and isinstance(y, int | float):
                if not math.isclose(x, y, rel_tol=rel, abs_tol=absolute):
                    return False
            elif x != y:
                return False
    return True
