"""SmartNoise-SQL's wire contract: SQL with a privacy budget, a DataFrame back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lomas_contract.base import (
    AccuracyFields,
    DatasetRequest,
    Delta,
    DummyFields,
    EngineSpec,
    Epsilon,
    FrameResult,
)


class SmartnoiseSqlCostRequest(DatasetRequest):
    query_str: str = Field(min_length=1, max_length=20_000)
    epsilon: Epsilon
    delta: Delta
    mechanisms: dict[str, str] = Field(default_factory=dict)


class SmartnoiseSqlEstimateRequest(SmartnoiseSqlCostRequest, AccuracyFields):
    """/estimate_smartnoise_sql_cost: the query's priced fields, and alpha."""


class SmartnoiseSqlRequest(SmartnoiseSqlCostRequest):
    postprocess: bool = True


class SmartnoiseSqlDummyRequest(SmartnoiseSqlRequest, DummyFields):
    pass


class SmartnoiseSqlResult(FrameResult):
    type: Literal["smartnoise_sql"] = "smartnoise_sql"


SPEC = EngineSpec("smartnoise_sql", "SmartNoise-SQL", SmartnoiseSqlEstimateRequest,
                  SmartnoiseSqlRequest, SmartnoiseSqlDummyRequest, SmartnoiseSqlResult)
