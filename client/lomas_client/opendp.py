"""OpenDP queries from the client. OpenDP is imported only when you use it."""

from __future__ import annotations

from typing import Any

from lomas_client.engines import EngineClient
from lomas_client.jobs import Job
from lomas_contract import models as m
from lomas_contract.engines.opendp import polars_context, serialize_polars_query

CSV_SEPARATOR = ","


class OpenDPClient(EngineClient):
    """`client.opendp.query(pipeline, ...)`, `.cost(...)`, `.context(...)`, `.split_dataframe()`.

    A pipeline is either an OpenDP polars query made from `context(...)`, or an
    OpenDP Measurement whose input is the dataset as CSV text (no header, the
    metadata's column order), started with `split_dataframe()`.
    """

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
        return {"opendp_json": self.serialize(pipeline), "fixed_delta": fixed_delta}

    def cost(self, pipeline: Any,  # type: ignore[override]
             fixed_delta: float | None = None, alpha: float = m.DEFAULT_ALPHA) -> m.CostResponse:
        """What OpenDP maps the pipeline to, at the dataset's contribution bound, and the
        accuracy OpenDP gives for it at 1 - alpha confidence (`.describe()`)."""
        return self._cost(self._fields(pipeline, fixed_delta), alpha)

    def query(self, pipeline: Any, fixed_delta: float | None = None,  # type: ignore[override]
              dummy: bool = False, nb_rows: int = 100, seed: int = 42) -> Any:
        """Run the pipeline (dummy=True: on dummy data, free); returns its released value
        (a DataFrame for a polars query), waiting as long as it takes (see Client)."""
        return self._run(self._fields(pipeline, fixed_delta), dummy, nb_rows, seed, wait=True)

    def submit(self, pipeline: Any, fixed_delta: float | None = None,  # type: ignore[override]
               dummy: bool = False, nb_rows: int = 100, seed: int = 42) -> Job:
        """Start the pipeline and return at once: `job.status()`, `job.result(timeout)`."""
        return self._run(self._fields(pipeline, fixed_delta), dummy, nb_rows, seed, wait=False)
