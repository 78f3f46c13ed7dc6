"""Researcher routes, from the route table. Each view: parse, one service, serialise."""

from typing import Any

from chalice import Blueprint

from chalicelib.wiring import deps
from functions.common import pages
from functions.common.api import Call, Page, expose
from functions.common.jobs import accepted, job_response, outcome, preferences, seconds
from functions.common.openapi import openapi_document
from lomas.engines import ENGINES, Engine
from lomas.services import jobs, querying, researcher
from lomas_contract import models as m
from lomas_contract import routes as r

bp = Blueprint(__name__)


@expose(bp, deps, r.HEALTH)
def health() -> m.HealthResponse:
    deps().store.ping()
    return m.HealthResponse()


@expose(bp, deps, r.OPENAPI)
def openapi() -> dict[str, Any]:
    return openapi_document()


@expose(bp, deps, r.LANDING)
def landing() -> Page:
    return pages.landing()


@expose(bp, deps, r.API_REFERENCE)
def api_reference() -> Page:
    return pages.api_reference()


@expose(bp, deps, r.DATASET_METADATA)
def get_dataset_metadata(call: Call, req: m.DatasetRequest) -> m.DatasetMetadata:
    return researcher.metadata(call.ctx, call.user, req)


@expose(bp, deps, r.DUMMY_DATASET)
def get_dummy_dataset(call: Call, req: m.DummyDatasetRequest) -> m.DummyDatasetResponse:
    return researcher.dummy_dataset(call.ctx, call.user, req)


@expose(bp, deps, r.INITIAL_BUDGET)
def get_initial_budget(call: Call, req: m.DatasetRequest) -> m.InitialBudgetResponse:
    return researcher.initial_budget(call.ctx, call.user, req)


@expose(bp, deps, r.SPENT_BUDGET)
def get_total_spent_budget(call: Call, req: m.DatasetRequest) -> m.SpentBudgetResponse:
    return researcher.spent_budget(call.ctx, call.user, req)


@expose(bp, deps, r.REMAINING_BUDGET)
def get_remaining_budget(call: Call, req: m.DatasetRequest) -> m.RemainingBudgetResponse:
    return researcher.remaining_budget(call.ctx, call.user, req)


@expose(bp, deps, r.PREVIOUS_QUERIES)
def get_previous_queries(call: Call, req: m.DatasetRequest) -> m.PreviousQueriesResponse:
    return researcher.previous_queries(call.ctx, call.user, req)


@expose(bp, deps, r.DATASETS)
def get_datasets(call: Call) -> m.GrantedDatasetsResponse:
    return researcher.datasets(call.ctx, call.user)


def _engine_routes(engine: Engine) -> None:
    """/estimate_<engine>_cost, /<engine>_query and /dummy_<engine>_query."""
    routes = r.ENGINES[engine.spec.name]

    @expose(bp, deps, routes.cost)
    def estimate(call: Call, req: Any) -> m.CostResponse:
        return querying.estimate_cost(call.ctx, call.user, engine, req)

    @expose(bp, deps, routes.query)
    def query(call: Call, req: Any) -> Any:
        if (answer := _as_job(call, req, dummy=False)) is not None:
            return answer
        return querying.run_query(call.ctx, call.user, engine, req, call.idempotency_key())

    @expose(bp, deps, routes.dummy)
    def dummy(call: Call, req: Any) -> Any:
        if (answer := _as_job(call, req, dummy=True)) is not None:
            return answer
        return querying.run_dummy_query(call.ctx, call.user, engine, req)

    def _as_job(call: Call, req: Any, *, dummy: bool) -> Any:
        """With Prefer: respond-async, a job: its answer if it ends within the wait,
        else 202 and where to read it. None without the header."""
        asynchronous, wait = preferences(call)
        if not asynchronous:
            return None
        job = jobs.submit_and_wait(call.ctx, call.user, engine, req, call.idempotency_key(),
                                   dummy=dummy, wait=wait)
        return outcome(call, job) if job.finished else accepted(call, job)


@expose(bp, deps, r.JOB_STATUS)
def get_job_status(call: Call, uid: str) -> m.JobResponse:
    wait = call.query_param("wait")
    job = jobs.status(call.ctx, call.user, uid, seconds(wait, "wait") if wait else 0.0)
    return job_response(job)


for _engine in ENGINES.values():
    _engine_routes(_engine)
