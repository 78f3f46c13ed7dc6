"""The SparkSession, and the connection SmartNoise-SQL's Spark reader runs on."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lomas.data import Planned, checks
from lomas.data.handles import Session
from lomas.domain import Dataset
from lomas.errors import InvalidQuery, first_line
from lomas.sources.base import RemoteHandle, SourceError, report, unloadable
from lomas_contract.models import DatasetCheckResponse
from lomas_contract.sources.spark import SparkAccess

log = logging.getLogger(__name__)

DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
}

FAMILIES = {"tinyint": "int", "smallint": "int", "int": "int", "bigint": "int",
            "float": "float", "double": "float", "decimal": "float", "string": "string",
            "boolean": "boolean",
            "timestamp": "datetime", "timestamp_ntz": "datetime", "date": "datetime"}


def start(master: str, conf: dict[str, str]) -> Any:
    """One SparkSession for this process. Raises SourceError if it cannot start."""
    # Workers must run this interpreter (not the system's), and a local driver must bind
    # to loopback (else Spark picks the machine's first address).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    try:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.master(master).appName("lomas")
        for key, value in {**DEFAULTS, **conf}.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    except Exception as exc:
        log.error("spark session did not start: %s", type(exc).__name__)
        raise SourceError(f"Spark did not start ({type(exc).__name__})") from exc
    session.sparkContext.setLogLevel("ERROR")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines outlive logging
    return session


def relation(access: SparkAccess) -> str:
    """The table or the Parquet files, as Spark SQL names them (validated by the access)."""
    if access.table is not None:
        return ".".join(f"`{part}`" for part in access.table.split("."))
    return f"parquet.`{access.path}`"


class SparkConnection:
    """What snsql's Spark reader calls: `sql(query)`, here collected on the driver at once.

    Rows, not a DataFrame, go back to SmartNoise, which then adds the noise to them once.
    """

    def __init__(self, session: Any, prefix: str, plan_only: bool = False) -> None:
        self._session = session
        self._prefix = prefix
        self._plan_only = plan_only

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        if query.lstrip()[:4].upper() == "WITH":
            raise InvalidQuery("Queries with WITH clauses are not supported.")
        frame = self._session.sql(self._prefix + query)  # analysed here: no job runs yet
        if self._plan_only:
            raise Planned
        rows = frame.collect()
        return [tuple(frame.columns), *(tuple(row) for row in rows)]


class SparkHandle(RemoteHandle):
    """A Spark table as SmartNoise-SQL queries it; nothing is held in this process."""

    kind = "Spark"

    def __init__(self, session: Any, access: SparkAccess, dataset_name: str,
                 columns: list[str]) -> None:
        self.session = session
        self.relation = relation(access)
        cols = ", ".join(checks.ident(c, "`") for c in columns)
        views = ", ".join(f"{name} AS (SELECT {cols} FROM {self.relation})"
                          for name in ("df", dataset_name))
        self._prefix = f"WITH {views} "

    @contextmanager
    def sql(self) -> Iterator[Session]:
        yield Session(SparkConnection(self.session, self._prefix), "spark")

    @contextmanager
    def plan(self) -> Iterator[Session]:
        """A session whose statements Spark analyses but does not run."""
        yield Session(SparkConnection(self.session, self._prefix, plan_only=True), "spark")



def check(handle: SparkHandle, dataset: Dataset) -> DatasetCheckResponse:
    """One aggregate query in Spark: counts come back, never values."""
    md = dataset.metadata
    try:
        frame = handle.session.sql(f"SELECT * FROM {handle.relation}")
        stored = {name: FAMILIES.get(kind.split("(")[0], kind) for name, kind in frame.dtypes}
        found = checks.counts(md, stored, lambda c: f"{c} <> floor({c})", checks.SPARK)
        row = handle.session.sql(checks.aggregate(handle.relation, found)).collect()[0]
    except Exception as exc:  # noqa: BLE001 - Spark's analysis and I/O errors
        return unloadable(dataset, f"{type(exc).__name__}: {first_line(exc)}")
    return report(dataset, *checks.result(md, stored, found, row))
