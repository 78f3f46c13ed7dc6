"""OpenDP: a pipeline rebuilt from allowlists only, priced by OpenDP's own privacy map at
the dataset's contribution bound, run once. A polars query reads a LazyFrame; a
Measurement reads the rows as CSV text."""

from __future__ import annotations

from lomas.domain import Capability, Dataset
from lomas.engines.base import PluggedEngine, Prepared
from lomas_contract.base import DatasetRequest
from lomas_contract.engines.opendp import SPEC, OpenDPCostRequest


def prepare(dataset: Dataset, req: DatasetRequest) -> Prepared:
    """The pipeline, checked against the dataset, and its cost. Raises InvalidQuery."""
    from lomas.engines.opendp import accuracy, measurement

    assert isinstance(req, OpenDPCostRequest)
    pipeline = measurement.build(dataset.metadata, req.opendp_json)
    cost = measurement.cost(pipeline.measurement, dataset.metadata, req.fixed_delta)
    needs = Capability.POLARS if pipeline.polars else Capability.ROWS
    return Prepared(cost, needs,
                    lambda handle: measurement.execute(pipeline, handle, dataset.metadata),
                    accuracy=lambda alpha: accuracy.estimate_accuracy(pipeline, alpha))


ENGINE = PluggedEngine(SPEC, prepare)
