"""OpenDP queries: same ledger, idempotency and archive as SmartNoise-SQL."""

from __future__ import annotations

from typing import Any

from lomas_client import models as m

from lomas.domain import PrivacyCost, User
from lomas.dp import opendp
from lomas.dp.dummy import dummy_frame
from lomas.dp.tables import CachedData
from lomas.services.access import dataset_for
from lomas.services.context import Context
from lomas.services.querying import charged_run
from lomas.services.researcher import check_dummy_rows


def _response(user: User, cost: PrivacyCost, result: m.OpenDPResult) -> dict[str, Any]:
    return m.QueryResponse(requested_by=user.name, epsilon=cost.epsilon, delta=cost.delta,
                           result=result).model_dump(mode="json")


def estimate_opendp_cost(ctx: Context, user: User, req: m.OpenDPCostRequest) -> m.CostResponse:
    """What OpenDP maps the pipeline to. Raises UnauthorizedAccess, InvalidQuery."""
    dataset, _ = dataset_for(ctx.store, user, req.dataset_name)
    cost = opendp.estimate_cost(dataset.metadata, req)
    return m.CostResponse(epsilon=cost.epsilon, delta=cost.delta)


def opendp_query(ctx: Context, user: User, req: m.OpenDPRequest,
                 idempotency_key: str | None) -> dict[str, Any]:
    """Charge the pipeline's cost, then run it once on the private data."""
    dataset, _ = dataset_for(ctx.store, user, req.dataset_name)
    pipeline = opendp.build(dataset.metadata, req.opendp_json)
    cost = opendp.cost(pipeline.measurement, dataset.metadata, req.fixed_delta)

    def execute(data: CachedData) -> dict[str, Any]:
        return _response(user, cost, opendp.execute(pipeline, data.frame, dataset.metadata))

    request = req.model_dump(mode="json")
    return charged_run(ctx, user, dataset, opendp.ENGINE, request, cost, idempotency_key,
                       execute)


def dummy_opendp_query(ctx: Context, user: User, req: m.OpenDPDummyRequest) -> dict[str, Any]:
    """Run the pipeline on dummy data: never charged, never archived."""
    dataset, _ = dataset_for(ctx.store, user, req.dataset_name)
    check_dummy_rows(ctx, req.dummy_nb_rows)
    pipeline = opendp.build(dataset.metadata, req.opendp_json)
    cost = opendp.cost(pipeline.measurement, dataset.metadata, req.fixed_delta)
    frame = dummy_frame(dataset.metadata, req.dummy_nb_rows, req.dummy_seed)
    return _response(user, cost, opendp.execute(pipeline, frame, dataset.metadata))
