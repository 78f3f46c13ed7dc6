"""Researcher routes, in Lomas's vocabulary. Each view: parse, one service, serialise."""

from chalice import Blueprint
from lomas.services import opendp_querying, querying, researcher
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


@bp.route("/estimate_smartnoise_sql_cost", methods=["POST"])
@endpoint(bp, deps, m.SmartnoiseSqlCostRequest)
def estimate_smartnoise_sql_cost(call: Call, req: m.SmartnoiseSqlCostRequest) -> m.CostResponse:
    return querying.estimate_smartnoise_sql_cost(call.ctx, call.user, req)


@bp.route("/smartnoise_sql_query", methods=["POST"])
@endpoint(bp, deps, m.SmartnoiseSqlRequest)
def smartnoise_sql_query(call: Call, req: m.SmartnoiseSqlRequest) -> dict:
    return querying.smartnoise_sql_query(call.ctx, call.user, req, call.idempotency_key())


@bp.route("/dummy_smartnoise_sql_query", methods=["POST"])
@endpoint(bp, deps, m.SmartnoiseSqlDummyRequest)
def dummy_smartnoise_sql_query(call: Call, req: m.SmartnoiseSqlDummyRequest) -> dict:
    return querying.dummy_smartnoise_sql_query(call.ctx, call.user, req)


@bp.route("/estimate_opendp_cost", methods=["POST"])
@endpoint(bp, deps, m.OpenDPCostRequest)
def estimate_opendp_cost(call: Call, req: m.OpenDPCostRequest) -> m.CostResponse:
    return opendp_querying.estimate_opendp_cost(call.ctx, call.user, req)


@bp.route("/opendp_query", methods=["POST"])
@endpoint(bp, deps, m.OpenDPRequest)
def opendp_query(call: Call, req: m.OpenDPRequest) -> dict:
    return opendp_querying.opendp_query(call.ctx, call.user, req, call.idempotency_key())


@bp.route("/dummy_opendp_query", methods=["POST"])
@endpoint(bp, deps, m.OpenDPDummyRequest)
def dummy_opendp_query(call: Call, req: m.OpenDPDummyRequest) -> dict:
    return opendp_querying.dummy_opendp_query(call.ctx, call.user, req)
