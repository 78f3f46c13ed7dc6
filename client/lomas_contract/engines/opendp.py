"""OpenDP's wire contract: a serialized pipeline, and the polars privacy domain.

The domain a polars query is checked and charged against is derived from the
dataset's metadata here, once, for both sides: the researcher's Context
(lomas_client) and the server's Measurement (lomas) build it with the same code.
OpenDP and polars are imported only when used.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lomas_contract.base import (
    AccuracyFields,
    DatasetMetadata,
    DatasetRequest,
    Delta,
    DummyFields,
    EngineResult,
    EngineSpec,
)


class OpenDPCostRequest(DatasetRequest):
    opendp_json: str = Field(min_length=2, max_length=8_000_000,
                             description="A Measurement serialized with opendp.serialize.")
    fixed_delta: Delta | None = Field(
        default=None, description="For zCDP and smoothed pipelines: the delta to charge.")


class OpenDPEstimateRequest(OpenDPCostRequest, AccuracyFields):
    """/estimate_opendp_cost: the pipeline's priced fields, and alpha."""


class OpenDPRequest(OpenDPCostRequest):
    pass


class OpenDPDummyRequest(OpenDPRequest, DummyFields):
    pass


class OpenDPResult(EngineResult):
    type: Literal["opendp"] = "opendp"
    value: Any = None
    """A number or a list of numbers, as a Measurement released it."""
    df: dict[str, Any] | None = None
    """A polars query's released table, as a pandas "tight" dict."""

    def released(self) -> Any:
        if self.df is None:
            return self.value
        import pandas as pd

        return pd.DataFrame.from_dict(self.df, orient="tight")


SPEC = EngineSpec("opendp", "OpenDP", OpenDPEstimateRequest, OpenDPRequest, OpenDPDummyRequest,
                  OpenDPResult)


# The polars form: its privacy domain, derived once from the metadata for both sides.
DEFAULT_MAX_LENGTH = 1_000_000_000
POLARS_KEY = "lomas_polars_query"


def polars_schema(metadata: DatasetMetadata) -> dict[str, Any]:
    """The dataset's columns as polars dtypes (datetime columns are left out)."""
    import polars as pl

    dtypes = {"int": pl.Int64, "float": pl.Float64, "string": pl.String, "boolean": pl.Boolean}
    return {name: dtypes[col.type] for name, col in metadata.columns.items()
            if col.type in dtypes}


def polars_margins(metadata: DatasetMetadata) -> list[Any]:
    """What is public about the table's shape: its length bound and categories' counts."""
    import opendp.prelude as dp

    rows = metadata.rows or DEFAULT_MAX_LENGTH
    margins = [dp.polars.Margin(by=[], max_length=rows)]
    for name, col in metadata.columns.items():
        if col.type == "string" and col.categories:
            margins.append(dp.polars.Margin(by=[name], max_length=rows,
                                            max_groups=len(col.categories)))
    return margins


def polars_input_domain(metadata: DatasetMetadata) -> Any:
    """The LazyFrame domain both the client's Context and the server build from metadata."""
    import opendp.prelude as dp
    import polars as pl

    domain = dp.domain_of(pl.LazyFrame(schema=polars_schema(metadata)), infer=True)
    for margin in polars_margins(metadata):
        domain = dp.with_margin(domain, margin)
    return domain


def polars_context(metadata: DatasetMetadata, privacy_loss: Any,
                   split_evenly_over: int = 1) -> Any:
    """An OpenDP Context over an empty frame shaped like the dataset, to build queries."""
    import opendp.prelude as dp
    import polars as pl

    dp.enable_features("contrib")
    return dp.Context.compositor(
        data=pl.LazyFrame(schema=polars_schema(metadata)),
        privacy_unit=dp.unit_of(contributions=metadata.max_ids),
        privacy_loss=privacy_loss, split_evenly_over=split_evenly_over,
        margins=polars_margins(metadata))


def plan_json(lazyframe: Any) -> Any:
    """A polars plan's JSON form (deprecated by polars, but the only form free of pickles)."""
    import json
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return json.loads(lazyframe.serialize(format="json"))


def serialize_polars_query(query: Any) -> str:
    """A LazyFrameQuery as its polars plan in JSON form plus the resolved noise parameters."""
    import json

    measurement = query.resolve()
    kwargs = measurement.__opendp_dict__["__kwargs__"]
    return json.dumps({POLARS_KEY: {
        "plan": plan_json(object.__getattribute__(query, "polars_plan")),
        "global_scale": kwargs["global_scale"],
        "threshold": kwargs["threshold"],
        "output_measure": str(measurement.output_measure),
    }})
