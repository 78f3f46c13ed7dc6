"""Spark datasets: the query runs in Spark, only aggregates reach the driver.

SmartNoise-SQL's Spark reader sends its rewritten aggregate query through
`SparkConnection.sql`, which collects the result on the driver once and hands
SmartNoise plain rows: the noise is drawn once. (Given a Spark DataFrame instead,
SmartNoise adds the noise in a lazy `rdd.map`, so every read of the answer would draw
it again.) One SparkSession per process, built from the settings on first use;
pyspark (the `spark` extra) and its JVM load only then.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from lomas.domain import Capability, Dataset
from lomas.ports import SecretStore
from lomas.sources.base import IN_PLACE, SourceError
from lomas_contract.models import DatasetCheckResponse
from lomas_contract.sources.spark import SparkAccess

if TYPE_CHECKING:
    from lomas.config import Settings
    from lomas.sources.spark.session import SparkHandle


class SparkSource:
    offers = frozenset({Capability.SQL})

    def __init__(self, master: str = "local[2]", conf: dict[str, str] | None = None) -> None:
        self._master = master
        self._conf = dict(conf or {})
        self._session: Any = None
        self._lock = threading.Lock()

    def session(self) -> Any:
        """This process's SparkSession, started on first use. Raises SourceError."""
        with self._lock:
            if self._session is None:
                from lomas.sources.spark.session import start

                self._session = start(self._master, self._conf)
            return self._session

    def validate(self, access: SparkAccess) -> None:
        import importlib.util

        if importlib.util.find_spec("pyspark") is None:
            raise SourceError("this server cannot read Spark datasets: it runs without the "
                              "spark extra (the container image's server-spark target has "
                              "it)", invalid=True)

    def version(self, access: SparkAccess) -> str | None:
        return IN_PLACE

    def open(self, dataset: Dataset) -> SparkHandle:
        from lomas.sources.spark.session import SparkHandle

        access = dataset.access
        assert isinstance(access, SparkAccess)
        self.validate(access)
        return SparkHandle(self.session(), access, dataset.name, list(dataset.metadata.columns))

    def check(self, dataset: Dataset) -> DatasetCheckResponse:
        """Aggregate queries only: the row count, each column's type, nulls, bounds and
        categories against the metadata, as counts."""
        from lomas.sources.spark.session import check

        return check(self.open(dataset), dataset)

    def read_bytes(self, access: Any) -> bytes:
        raise SourceError("a Spark source holds tables, not metadata files")


def build(settings: Settings, secrets: SecretStore) -> SparkSource:
    return SparkSource(settings.spark_master, settings.spark_conf)
