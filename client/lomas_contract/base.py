"""The contract's building blocks: names, privacy parameters, metadata, and the bases
every engine and source module extends (`EngineSpec`, `EngineResult`, `Access`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
"""User and dataset names: SQL identifiers, so a dataset is addressable in SQL."""

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Epsilon = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Delta = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
BudgetEpsilon = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------- metadata ---
class ColumnMetadata(Model):
    """One column as the data owner declares it; bounds are public knowledge."""

    type: Literal["string", "int", "float", "boolean", "datetime"]
    nullable: bool = False
    lower: float | int | str | None = None
    upper: float | int | str | None = None
    cardinality: int | None = Field(default=None, ge=1)
    categories: list[str] | list[int] | None = None
    precision: int | None = None
    private_id: bool = False

    @model_validator(mode="after")
    def _check_bounds(self) -> ColumnMetadata:
        if self.type in ("int", "float") and not self.private_id:
            if self.lower is None or self.upper is None:
                raise ValueError(f"a {self.type} column needs lower and upper bounds")
            if not (isinstance(self.lower, int | float) and isinstance(self.upper, int | float)):
                raise ValueError("numeric bounds must be numbers")
            if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
                raise ValueError("numeric bounds must be finite")
            if self.lower >= self.upper:
                raise ValueError("lower must be below upper")
        if self.categories is not None:
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("categories must be distinct")
            if self.cardinality is not None and self.cardinality != len(self.categories):
                raise ValueError("cardinality must equal the number of categories")
        if self.type == "datetime" and self.lower is not None and self.upper is not None:
            self._check_dates(str(self.lower), str(self.upper))
        return self

    @staticmethod
    def _check_dates(lower: str, upper: str) -> None:
        if datetime.fromisoformat(lower) >= datetime.fromisoformat(upper):
            raise ValueError("lower must be before upper")


class DatasetMetadata(Model):
    """What researchers may know about a dataset (SmartNoise-SQL vocabulary).

    Defaults are never weaker than SmartNoise's: GROUP BY keys are censored
    (`censor_dims`), each row is one individual unless a column is the
    `private_id`, and a column holds no nulls unless declared `nullable` (data
    that does is refused, not queried). `clamp_counts` (noisy counts below 0
    become 0) is post-processing, which cannot weaken a guarantee.
    """

    max_ids: int = Field(default=1, ge=1)
    row_privacy: bool = Field(
        default=True, description="Each row is one individual. Default: true unless a column "
        "is the private_id; true together with a private_id column is refused.")
    rows: int | None = Field(default=None, ge=0)
    censor_dims: bool = Field(
        default=True, description="Release only GROUP BY keys whose noisy count passes "
        "SmartNoise's threshold (needs delta > 0). False releases every key present in the "
        "private data: an explicit administrator choice.")
    clamp_counts: bool = True
    clamp_columns: bool = True
    columns: dict[str, ColumnMetadata] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _row_privacy_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "row_privacy" not in data:
            columns = data.get("columns")
            keyed = isinstance(columns, dict) and any(
                (c.private_id if isinstance(c, ColumnMetadata)
                 else isinstance(c, dict) and c.get("private_id")) for c in columns.values())
            data = {**data, "row_privacy": not keyed}
        return data

    @model_validator(mode="after")
    def _one_unit_of_privacy(self) -> DatasetMetadata:
        if self.row_privacy and any(c.private_id for c in self.columns.values()):
            raise ValueError("row_privacy cannot be true when a column is the private_id: "
                             "rows of one individual would count as different individuals")
        return self

    @field_validator("columns")
    @classmethod
    def _column_names(cls, value: dict[str, ColumnMetadata]) -> dict[str, ColumnMetadata]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"column name {name!r} is not an identifier")
        return value



# --------------------------------------------------------- query requests ---
class DatasetRequest(Model):
    dataset_name: Name


class DummyDatasetRequest(DatasetRequest):
    dummy_nb_rows: int = Field(default=100, ge=1)
    dummy_seed: int = 42


class DummyFields(Model):
    """What a dummy run adds to a query request: how many rows, from which seed."""

    dummy_nb_rows: int = Field(default=100, ge=1)
    dummy_seed: int = 42


DEFAULT_ALPHA = 0.05
"""The significance level of an accuracy estimate unless the request names one: 95%."""


class AccuracyFields(Model):
    """What a cost estimate's request adds to the query's fields: the significance level
    of its accuracy estimate (the query itself takes none: it is not archived with it)."""

    alpha: float = Field(
        default=DEFAULT_ALPHA, gt=0, lt=1, allow_inf_nan=False,
        description="Significance level of the accuracy estimate, strictly between 0 and "
        "1: 0.05 (the default) gives bounds at 95% confidence.")


class ColumnAccuracy(Model):
    """How far one released statistic may be from its true value, by the noise alone."""

    column: str = Field(description="The released column (or value) it is about.")
    statistic: str | None = Field(
        default=None, description="What it is, as a person reads it: `COUNT(*)`, "
        "`income (Sum)`.")
    bound: float | None = Field(
        default=None, ge=0, description="With probability 1 - alpha, the noise added to "
        "this statistic is at most this (the released value is within ±bound of the value "
        "on the data, clamped to the metadata's bounds). None: not available (see reason).")
    reason: str | None = Field(default=None, description="Why there is no bound.")


class Accuracy(Model):
    """A cost estimate's accuracy estimate, made from the request and the metadata only."""

    alpha: float
    available: bool = Field(description="Whether any statistic has a bound.")
    reason: str | None = Field(default=None, description="Why none has, if none has.")
    columns: list[ColumnAccuracy] = Field(default_factory=list)

    @classmethod
    def unavailable(cls, alpha: float, reason: str) -> Accuracy:
        return cls(alpha=alpha, available=False, reason=reason)

    @classmethod
    def of(cls, alpha: float, columns: list[ColumnAccuracy], reason: str) -> Accuracy:
        """These columns' estimate; `reason` is said if none of them has a bound."""
        available = any(c.bound is not None for c in columns)
        return cls(alpha=alpha, available=available, reason=None if available else reason,
                   columns=columns)


class CostResponse(Model):
    """What the query would be charged, and how accurate its answer would be."""

    epsilon: float
    delta: float
    accuracy: Accuracy | None = Field(
        default=None, description="Computed from the request and the metadata only, "
        "never from the data.")

    def describe(self) -> str:
        """One line for a person: `ε 1, δ 1.5e-05; at 95% confidence COUNT(*) within ±3`."""
        line = f"ε {self.epsilon:.4g}, δ {self.delta:.4g}"
        accuracy = self.accuracy
        if accuracy is None:
            return line
        if not accuracy.columns:
            return f"{line}; accuracy {accuracy.reason or 'not available'}"
        parts = [f"{c.statistic or c.column} " + (f"within ±{c.bound:.4g}" if c.bound is not None
                                                   else "not available")
                 for c in accuracy.columns]
        return f"{line}; at {100 * (1 - accuracy.alpha):.4g}% confidence {', '.join(parts)}"

    def __str__(self) -> str:  # print(cost) reads as describe(); repr() keeps every field
        return self.describe()



SecretName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-/]{1,128}$")]
FileFormat = Literal["csv", "parquet", "json", "yaml"]


class Access(Model):
    """Where a dataset's rows are; each source kind's module defines one (`type` tells)."""

    type: str

    def location(self) -> str:
        """Where the data is, for messages to an administrator (never to researchers)."""
        raise NotImplementedError

    @classmethod
    def from_source(cls, source: str, **options: str | None) -> dict[str, Any] | None:
        """This kind's access as a wire body, from `lomas-admin datasets add --source`'s form
        of it (docs/datasets.md), or None if `source` is not in its form."""
        return None

    @classmethod
    def body(cls, **fields: Any) -> dict[str, Any]:
        """A wire body of this kind (the server validates the values)."""
        return {"type": cls.model_fields["type"].default,
                **{k: v for k, v in fields.items() if v is not None}}


class FileAccess(Access):
    """A file (CSV or Parquet; YAML or JSON for metadata)."""

    format: FileFormat | None = Field(
        default=None, description="csv or parquet for data, yaml or json for metadata; "
        "default: from the file name's suffix.")


class EngineResult(Model):
    """What a query released; each engine's module defines one (`type` tells)."""

    type: str

    def released(self) -> Any:
        """The released value as a researcher uses it (a DataFrame, a number)."""
        raise NotImplementedError


class FrameResult(EngineResult):
    """A released table, as ``DataFrame.to_dict(orient="tight")``."""

    df: dict[str, Any]

    def released(self) -> Any:
        import pandas as pd

        return pd.DataFrame.from_dict(self.df, orient="tight")


@dataclass(frozen=True)
class EngineSpec:
    """An engine's wire contract: its name (the routes' stem) and its bodies."""

    name: str
    label: str
    cost: type[DatasetRequest]
    query: type[DatasetRequest]
    dummy: type[DatasetRequest]
    result: type[EngineResult]
