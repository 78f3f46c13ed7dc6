"""Researcher routes, in Lomas's vocabulary. Each view: parse, one service, serialise."""

from collections.abc import Callable
from typing import Any

from chalice import Blueprint
from lomas.services import querying, researcher
from lomas.services.engines import ENGINES, Engine
from lomas_client import models as m

from chalicelib.wiring import deps
from functions.common.api import Call, endpoint, public

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])
@public
def health() -> m.HealthResponse:
    deps().store.ping()
    return m.HealthResponse()


@bp.route("/get_dataset_metadata", methods=["POST"])
@endpoint(bp, deps, m.DatasetRequest)
def get_dataset_metadata(call: Call, req: m.DatasetRequest) -> m.DatasetMetadata:
    return researcher.metadata(call.ctx, call.user, req)


@bp.route("/get_dummy_dataset", methods=["POST"])
@endpoint(bp, deps, m.DummyDatasetRequest)
def get_dummy_dataset(call: Call, req: m.DummyDatasetRequest) -> m.DummyDatasetResponse:
    return researcher.dummy_dataset(call.ctx, call.user, req)


@bp.route("/get_initial_budget", methods=["POST"])
@endpoint(bp, deps, m.DatasetRequest)
def get_initial_budget(call: Call, req: m.DatasetRequest) -> m.InitialBudgetResponse:
    return researcher.initial_budget(call.ctx, call.user, req)


@bp.route("/get_total_spent_budget", methods=["POST"])
@endpoint(bp, deps, m.DatasetRequest)
def get_total_spent_budget(call: Call, req: m.DatasetRequest) -> m.SpentBudgetResponse:
    return researcher.spent_budget(call.ctx, call.user, req)


@bp.route("/get_remaining_budget", methods=["POST"])
@endpoint(bp, deps, m.DatasetRequest)
def get_remaining_budget(call: Call, req: m.DatasetRequest) -> m.RemainingBudgetResponse:
    return researcher.remaining_budget(call.ctx, call.user, req)


@bp.route("/get_previous_queries", methods=["POST"])
@endpoint(bp, deps, m.DatasetRequest)
def get_previous_queries(call: Call, req: m.DatasetRequest) -> m.PreviousQueriesResponse:
    return researcher.previous_queries(call.ctx, call.user, req)


def _named(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    fn.__name__ = fn.__qualname__ = name
    return fn


def _engine_routes(engine: Engine) -> None:
    """/estimate_<engine>_cost, /<engine>_query and /dummy_<engine>_query."""
    e = engine.name

    def estimate(call: Call, req: Any) -> m.CostResponse:
        return querying.estimate_cost(call.ctx, call.user, engine, req)

    def query(call: Call, req: Any) -> dict:
        return querying.run_query(call.ctx, call.user, engine, req, call.idempotency_key())

    def dummy(call: Call, req: Any) -> dict:
        return querying.run_dummy_query(call.ctx, call.user, engine, req)

    for path, view, model in ((f"/estimate_{e}_cost", estimate, engine.cost_request),
                              (f"/{e}_query", query, engine.query_request),
                              (f"/dummy_{e}_query", dummy, engine.dummy_request)):
        name = path.strip("/")
        bp.route(path, methods=["POST"])(endpoint(bp, deps, model)(_named(view, name)))


for _engine in ENGINES:
    _engine_routes(_engine)
