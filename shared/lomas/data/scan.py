"""A Parquet file (or a pyarrow dataset of one) as engines read it: scanned where it lies.

DuckDB queries the file in place through a view that casts each declared column to its
declared type; nothing is read whole into memory, so serving does not grow with the
row count. The database loads and installs no extension, and once the view exists it
may read no other file (`allowed_paths` names the one file, then the configuration is
locked). polars scans the same file lazily, through pyarrow. Only an engine that needs the rows
themselves (`frame()`) reads them into memory.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lomas.data import checks
from lomas.data.duck import Connection, connect, seal
from lomas.data.frames import pandas_dtype
from lomas.data.handles import Session
from lomas.domain import Capability
from lomas_contract.models import DatasetMetadata, DatasetProblem

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

DUCK_TYPES = {"int": "BIGINT", "float": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN",
              "datetime": "TIMESTAMP"}
SOURCE_VIEW = "lomas_source"


def family(duck_type: str) -> str:
    """A DuckDB column type's family: int, float, string, boolean, datetime (or the type)."""
    t = duck_type.upper()
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
             "UINTEGER", "UBIGINT"):
        return "int"
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return "float"
    if t == "VARCHAR":
        return "string"
    if t == "BOOLEAN":
        return "boolean"
    if t.startswith(("TIMESTAMP", "DATE")):
        return "datetime"
    return t.lower()


def quoted_path(path: Path) -> str:
    return checks.literal(str(path))


def not_integral(column: str) -> str:
    return f"{column} <> trunc({column})"


class ScanHandle:
    """One dataset version in a Parquet file (or a pyarrow dataset), scanned in place."""

    offers = frozenset(Capability)

    def __init__(self, name: str, metadata: DatasetMetadata, *, path: Path | None = None,
                 dataset: Any = None, owned: bool = False) -> None:
        assert (path is None) != (dataset is None)
        self.name, self._metadata = name, metadata
        self._path, self._dataset, self._owned = path, dataset, owned
        # Nothing is held in memory; a copy of the file's own takes the instance's disk.
        self.size = path.stat().st_size if owned and path is not None else 0
        self.lock = threading.Lock()
        self._duck = connect()
        if path is not None:
            self._duck.execute(f"SET allowed_paths = [{quoted_path(path)}]")
            self._duck.execute(f"CREATE VIEW {SOURCE_VIEW} AS SELECT * FROM read_parquet("
                               f"{quoted_path(path)})")
        else:
            self._duck.register(SOURCE_VIEW, dataset)
        # Released when the last user lets go of the handle (the cache may drop it while a
        # query still runs on it), or by close().
        self._release = weakref.finalize(self, _release, self._duck, path if owned else None)
        self.stored = {str(row[0]): family(str(row[1])) for row in
                       self._duck.execute(f"DESCRIBE SELECT * FROM {SOURCE_VIEW}").fetchall()}

    def refusals(self) -> list[DatasetProblem]:
        """What makes the data unusable (other types, nulls where none are declared, values
        outside the categories), asked cheaply when the file is opened: null counts from
        the Parquet footer's statistics where it has them, the distinct values of
        categorical columns; never the values themselves, only whether they fit."""
        found = [p for p in checks.problems(self._metadata, self.stored, 0, [], [])
                 if p.column is not None]
        nulls = self._footer_nulls()
        queries: list[tuple[str, str, str]] = []
        for name, col in self._metadata.columns.items():
            if self.stored.get(name) not in checks.FAMILIES[col.type]:
                continue
            c = checks.ident(name)
            if not col.nullable and nulls.get(name) != 0:
                queries.append((name, checks.NULLS, f"(SELECT COUNT(*) FROM {SOURCE_VIEW} "
                                                    f"WHERE {c} IS NULL)"))
            if col.categories is not None:
                values = ", ".join(checks.literal(str(v)) for v in col.categories)
                queries.append((name, checks.OUTSIDE_CATEGORIES, (
                    f"(SELECT COUNT(*) FROM (SELECT DISTINCT {c} AS v FROM {SOURCE_VIEW}) "
                    f"WHERE v IS NOT NULL AND CAST(v AS VARCHAR) NOT IN ({values}))")))
            if col.type == "int" and self.stored[name] == "float":
                queries.append((name, checks.NOT_INT, (
                    f"(SELECT COUNT(*) FROM {SOURCE_VIEW} WHERE {not_integral(c)})")))
        if queries:
            row = self._duck.execute("SELECT " + ", ".join(q for _, _, q in queries)).fetchone()
            assert row is not None
            found += [DatasetProblem(column=name, problem=problem)
                      for (name, problem, _), count in zip(queries, row, strict=True) if count]
        return found

    def _footer_nulls(self) -> dict[str, int]:
        """Null counts per column from the Parquet footer ({} where it has no statistics)."""
        if self._path is None:
            return {}
        rows = self._duck.execute(
            "SELECT path_in_schema, SUM(stats_null_count), COUNT(*) - COUNT(stats_null_count) "
            f"FROM parquet_metadata({quoted_path(self._path)}) GROUP BY path_in_schema"
        ).fetchall()
        return {str(name): int(count) for name, count, missing in rows if not missing}

    def problems(self) -> tuple[int, list[DatasetProblem]]:
        """The row count, and how the file departs from the metadata (counts only)."""
        found = checks.counts(self._metadata, self.stored, not_integral)
        row = self._duck.execute(checks.aggregate(SOURCE_VIEW, found)).fetchone()
        return checks.result(self._metadata, self.stored, found, row)

    def serve(self) -> ScanHandle:
        """Name the declared columns (cast to their types) `df` and the dataset's name, then
        seal the database: from now on it reads no other file."""
        columns = ", ".join(f"CAST({checks.ident(n)} AS {DUCK_TYPES[c.type]}) AS "
                            f"{checks.ident(n)}" for n, c in self._metadata.columns.items())
        self._duck.execute(f"CREATE VIEW df AS SELECT {columns} FROM {SOURCE_VIEW}")
        self._duck.execute(f"CREATE VIEW {checks.ident(self.name)} AS SELECT * FROM df")
        seal(self._duck)
        self.connection = Connection(self._duck)
        return self

    @contextmanager
    def sql(self) -> Iterator[Session]:
        """The database's connection, its lock held for the execution (a DuckDB connection
        is not thread-safe)."""
        with self.lock:
            yield Session(self.connection)

    @contextmanager
    def plan(self) -> Iterator[Session]:
        """A session whose statements DuckDB plans (EXPLAIN) but does not run."""
        with self.lock:
            yield Session(self.connection.planner())

    def lazy(self) -> pl.LazyFrame:
        """A lazy scan through a pyarrow dataset: OpenDP's polars reads that plan (it has no
        Parquet scan of its own)."""
        import polars as pl

        dataset = self._dataset
        if dataset is None:
            import pyarrow.dataset as ds

            dataset = ds.dataset(self._path, format="parquet")
        return pl.scan_pyarrow_dataset(dataset)

    def frame(self) -> pd.DataFrame:
        """The rows in memory, with the declared dtypes (for engines that need them all)."""
        with self.lock:
            frame = self._duck.execute("SELECT * FROM df").df()
        for name, col in self._metadata.columns.items():
            if (dtype := pandas_dtype(col)) is not None:
                frame[name] = frame[name].astype(dtype)
        return frame

    def close(self) -> None:
        """Close the database; delete the file if it is this instance's own copy."""
        self._release()


def _release(duck: Any, owned: Path | None) -> None:
    duck.close()
    if owned is not None:
        owned.unlink(missing_ok=True)
