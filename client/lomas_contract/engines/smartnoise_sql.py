"""SmartNoise-SQL's wire contract: SQL with a privacy budget, a DataFrame back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lomas_contract.base import (
    DatasetRequest,
    Delta,
    DummyFields,
    EngineResult,
    EngineSpec,
    Epsilon,
)


class SmartnoiseSqlCostRequest(DatasetRequest):
    query_str: str = Field(min_length=1, max_length=20_000)
    epsilon: Epsilon
    delta: Delta
    mechanisms: dict[str, str] = Field(default_factory=dict)


class SmartnoiseSqlRequest(SmartnoiseSqlCostRequest):
    postprocess: bool = True


class SmartnoiseSqlDummyRequest(SmartnoiseSqlRequest, DummyFields):
    pass


class SmartnoiseSqlResult(EngineResult):
    type: Literal["smartnoise_sql"] = "smartnoise_sql"
    df: dict[str, Any]
    """A pandas DataFrame as ``DataFrame.to_dict(orient="tight")``."""

    def released(self) -> Any:
        import pandas as pd

        return pd.DataFrame.from_dict(self.df, orient="tight")


SPEC = EngineSpec("smartnoise_sql", "SmartNoise-SQL", SmartnoiseSqlCostRequest,
                  SmartnoiseSqlRequest, SmartnoiseSqlDummyRequest, SmartnoiseSqlResult)
