"""OpenDP queries from the client. OpenDP is imported only when you use it."""

from __future__ import annotations

from typing import Any

from lomas_client import models as m
from lomas_client.http import Transport, route_body
from lomas_client.jobs import Job
from lomas_client.routes import ENGINES

CSV_SEPARATOR = ","


class OpenDPClient:
    """`client.opendp.query(pipeline, ...)`, `.cost(...)`, `.context(...)`, `.split_dataframe()`.

    A pipeline is either an OpenDP polars query made from `context(...)`, or an
    OpenDP Measurement whose input is the dataset as CSV text (no header, the
    metadata's column order), started with `split_dataframe()`.
    """

    def __init__(self, transport: Transport, dataset_name: str,
                 metadata: Any) -> None:
        self._http = transport
        self._dataset = dataset_name
        self._metadata = metadata

    def split_dataframe(self) -> Any:
        """The pipeline's first step: the dataset's CSV text split into named columns."""
        import opendp.prelude as dp

        dp.enable_features("contrib")
        return dp.t.make_split_dataframe(CSV_SEPARATOR, col_names=list(self._metadata().columns))

    def context(self, privacy_loss: Any, split_evenly_over: int = 1) -> Any:
        """An OpenDP Context for polars queries on this dataset (built from its metadata).

        `client.opendp.context(dp.loss_of(epsilon=1.0)).query().select(dp.len())`
        """
        return polars_context(self._metadata(), privacy_loss, split_evenly_over)

    @staticmethod
    def serialize(pipeline: Any) -> str:
        """A Measurement via opendp.serialize; a polars query as its plan's JSON form."""
        if isinstance(pipeline, str):
            return pipeline
        if type(pipeline).__name__ == "LazyFrameQuery":
            return serialize_polars_query(pipeline)
        import opendp.prelude as dp

        return dp.serialize(pipeline)

    def _fields(self, pipeline: Any, fixed_delta: float | None) -> dict[str, Any]:
        return {"dataset_name": self._dataset, "opendp_json": self.serialize(pipeline),
                "fixed_delta": fixed_delta}

    def cost(self, pipeline: Any, fixed_delta: float | None = None) -> m.CostResponse:
        """What OpenDP maps the pipeline to, at the dataset's contribution bound."""
        route = ENGINES["opendp"].cost
        raw = self._http.call(route, route_body(route, **self._fields(pipeline, fixed_delta)))
        return m.CostResponse.model_validate(raw)

    def query(self, pipeline: Any, fixed_delta: float | None = None, dummy: bool = False,
              nb_rows: int = 100, seed: int = 42) -> Any:
        """Run the pipeline (dummy=True: on dummy data, free); returns its released value
        (a DataFrame for a polars query), waiting as long as it takes (see Client)."""
        return self._http.run("opendp", self._fields(pipeline, fixed_delta), dummy, nb_rows,
                              seed, wait=True)

    def submit(self, pipeline: Any, fixed_delta: float | None = None, dummy: bool = False,
               nb_rows: int = 100, seed: int = 42) -> Job:
        """Start the pipeline and return at once: `job.status()`, `job.result(timeout)`."""
        return self._http.run("opendp", self._fields(pipeline, fixed_delta), dummy, nb_rows,
                              seed, wait=False)


# ------------------------------------------------- polars form: one derivation ---
DEFAULT_MAX_LENGTH = 1_000_000_000
POLARS_KEY = "lomas_polars_query"


def polars_schema(metadata: m.DatasetMetadata) -> dict[str, Any]:
    """The dataset's columns as polars dtypes (datetime columns are left out)."""
    import polars as pl

    dtypes = {"int": pl.Int64, "float": pl.Float64, "string": pl.String, "boolean": pl.Boolean}
    return {name: dtypes[col.type] for name, col in metadata.columns.items()
            if col.type in dtypes}


def polars_margins(metadata: m.DatasetMetadata) -> list[Any]:
    """What is public about the table's shape: its length bound and categories' counts."""
    import opendp.prelude as dp

    rows = metadata.rows or DEFAULT_MAX_LENGTH
    margins = [dp.polars.Margin(by=[], max_length=rows)]
    for name, col in metadata.columns.items():
        if col.type == "string" and col.categories:
            margins.append(dp.polars.Margin(by=[name], max_length=rows,
                                            max_groups=len(col.categories)))
    return margins


def polars_input_domain(metadata: m.DatasetMetadata) -> Any:
    """The LazyFrame domain both the client's Context and the server build from metadata."""
    import opendp.prelude as dp
    import polars as pl

    domain = dp.domain_of(pl.LazyFrame(schema=polars_schema(metadata)), infer=True)
    for margin in polars_margins(metadata):
        domain = dp.with_margin(domain, margin)
    return domain


def polars_context(metadata: m.DatasetMetadata, privacy_loss: Any,
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
