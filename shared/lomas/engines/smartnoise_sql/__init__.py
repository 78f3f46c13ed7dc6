"""SmartNoise-SQL: DP SQL priced by SmartNoise's own `get_privacy_cost` (its accuracy
estimated by `get_simple_accuracy`) before any data is read, then run once in the SQL
connection the source opened (DuckDB over a file or a frame, or the database itself), so
that only aggregates leave the data."""

from __future__ import annotations

from lomas.domain import Capability, Dataset
from lomas.engines.base import PluggedEngine, Prepared
from lomas.ports import Handle
from lomas_contract.base import Accuracy, DatasetRequest
from lomas_contract.engines.smartnoise_sql import (
    SPEC,
    SmartnoiseSqlCostRequest,
    SmartnoiseSqlRequest,
    SmartnoiseSqlResult,
)


def prepare(dataset: Dataset, req: DatasetRequest) -> Prepared:
    """The query's cost, from SmartNoise's rewrite of it on the metadata. Raises InvalidQuery."""
    from lomas.data.frames import to_tight
    from lomas.engines.smartnoise_sql import execution

    assert isinstance(req, SmartnoiseSqlCostRequest)
    cost = execution.estimate_cost(dataset.name, dataset.metadata, req)

    def run(handle: Handle) -> SmartnoiseSqlResult:
        assert isinstance(req, SmartnoiseSqlRequest)
        frame = execution.execute(handle, dataset.name, dataset.metadata, req,
                                  private=not getattr(handle, "dummy", False))
        return SmartnoiseSqlResult(df=to_tight(frame))

    def plan(handle: Handle) -> None:
        assert isinstance(req, SmartnoiseSqlRequest)
        execution.plan(handle, dataset.name, dataset.metadata, req)

    def accuracy(alpha: float) -> Accuracy:
        from lomas.engines.smartnoise_sql.accuracy import estimate_accuracy

        return estimate_accuracy(dataset.name, dataset.metadata, req, alpha)

    return Prepared(cost, Capability.SQL, run, plan, accuracy=accuracy)


ENGINE = PluggedEngine(SPEC, prepare)
