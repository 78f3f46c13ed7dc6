"""A table or Parquet files read by Apache Spark, where the data lives (a lake, a cluster)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lomas_contract.base import Access

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]{0,127}"


class SparkAccess(Access):
    """SmartNoise-SQL's rewritten query runs in Spark; only aggregates reach the driver."""

    type: Literal["spark"] = "spark"
    table: str | None = Field(
        default=None, pattern=rf"^{IDENTIFIER}(\.{IDENTIFIER})?$",
        description="db.table (or table) in the Spark session's catalog.")
    path: str | None = Field(
        default=None, pattern=r"^(s3a|hdfs|abfss|gs|file)://[^`\s]+$", max_length=2048,
        description="Parquet files: s3a://bucket/prefix, hdfs://…, or file:///… on every "
        "node.")

    @model_validator(mode="after")
    def _one_place(self) -> SparkAccess:
        if (self.table is None) == (self.path is None):
            raise ValueError("give exactly one of table and path")
        return self

    def location(self) -> str:
        return f"spark {'table ' + self.table if self.table else self.path}"

    @classmethod
    def from_source(cls, source: str, **options: str | None) -> dict[str, Any] | None:
        """spark:db.table, or Parquet files at s3a://, hdfs://, abfss://, gs://, file://"""
        if source.startswith("spark:"):
            return cls.body(table=source.removeprefix("spark:"))
        if source.startswith(("s3a://", "hdfs://", "abfss://", "gs://", "file://")):
            return cls.body(path=source)
        return None
