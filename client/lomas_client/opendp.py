"""OpenDP queries from the client. OpenDP is imported only when you use it."""

from __future__ import annotations

from typing import Any

from lomas_client import models as m
from lomas_client.http import Transport

CSV_SEPARATOR = ","


class OpenDPClient:
    """`client.opendp.query(pipeline, ...)`, `.cost(...)`, `.split_dataframe()`.

    A pipeline is an OpenDP Measurement whose input is the dataset as CSV text
    (no header, the metadata's column order): start it with `split_dataframe()`.
    """

    def __init__(self, transport: Transport, dataset_name: str,
                 columns: Any) -> None:
        self._http = transport
        self._dataset = dataset_name
        self._columns = columns

    def split_dataframe(self) -> Any:
        """The pipeline's first step: the dataset's CSV text split into named columns."""
        import opendp.prelude as dp

        dp.enable_features("contrib")
        return dp.t.make_split_dataframe(CSV_SEPARATOR, col_names=self._columns())

    @staticmethod
    def serialize(pipeline: Any) -> str:
        if isinstance(pipeline, str):
            return pipeline
        import opendp.prelude as dp

        return dp.serialize(pipeline)

    def _body(self, pipeline: Any, fixed_delta: float | None) -> dict[str, Any]:
        return {"dataset_name": self._dataset, "opendp_json": self.serialize(pipeline),
                "fixed_delta": fixed_delta}

    def cost(self, pipeline: Any, fixed_delta: float | None = None) -> m.CostResponse:
        """What OpenDP maps the pipeline to, at the dataset's contribution bound."""
        raw = self._http.post("/estimate_opendp_cost", self._body(pipeline, fixed_delta))
        return m.CostResponse.model_validate(raw)

    def query(self, pipeline: Any, fixed_delta: float | None = None, dummy: bool = False,
              nb_rows: int = 100, seed: int = 42) -> Any:
        """Run the pipeline (dummy=True: on dummy data, free); returns its released value."""
        body = self._body(pipeline, fixed_delta)
        if dummy:
            body |= {"dummy_nb_rows": nb_rows, "dummy_seed": seed}
            raw = self._http.post("/dummy_opendp_query", body)
        else:
            raw = self._http.post("/opendp_query", body, idempotent=True)
        result = m.QueryResponse.model_validate(raw).result
        assert isinstance(result, m.OpenDPResult)
        return result.value
