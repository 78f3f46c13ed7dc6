"""The HTTP API's route table: each route's method, path, body and answer models.

The one source of the routes, as `models` is of the bodies: the server's Chalice
apps register exactly these routes (a test checks that they agree), the client
and `lomas-admin` build their requests from them, and the OpenAPI document
(`GET /openapi.json`) is generated from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from pydantic import BaseModel

from lomas_contract import models as m
from lomas_contract.base import EngineSpec
from lomas_contract.engines import ENGINES as SPECS

JSON = "application/json"
YAML = ("application/x-yaml", "application/yaml", "text/yaml", "text/plain")


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    summary: str
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None  # None: 204 No Content, or a free-form document
    status: int = 200
    access: str = "researcher"  # public | researcher | admin
    query: tuple[str, ...] = ()  # optional query parameters
    content_types: tuple[str, ...] = (JSON,)
    parse_json: bool = True  # False: the view reads the raw body (YAML import)
    errors: tuple[int, ...] = ()  # besides those every authenticated route has
    jobs: bool = False  # Prefer: respond-async makes it a job (202 JobSubmitted)
    produces: str = JSON  # the answer's media type (text/html: a page for a browser)

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    def url(self, **params: str) -> str:
        """The path with its parameters filled in (percent-encoded)."""
        return self.path.format(**{k: quote(str(v), safe="") for k, v in params.items()})


def _researcher(name: str, body: type[BaseModel], answer: type[BaseModel], summary: str,
                errors: tuple[int, ...] = (), jobs: bool = False) -> Route:
    return Route(name, "POST", f"/{name}", summary, body, answer, errors=errors, jobs=jobs)


HEALTH = Route("health", "GET", "/health", "The service and its store are up.",
               answer=m.HealthResponse, access="public")
DATASET_METADATA = _researcher("get_dataset_metadata", m.DatasetRequest, m.DatasetMetadata,
                               "The dataset's public metadata.")
DUMMY_DATASET = _researcher("get_dummy_dataset", m.DummyDatasetRequest,
                            m.DummyDatasetResponse, "Random rows made from the metadata only.")
INITIAL_BUDGET = _researcher("get_initial_budget", m.DatasetRequest, m.InitialBudgetResponse,
                             "The budget granted on the dataset.")
SPENT_BUDGET = _researcher("get_total_spent_budget", m.DatasetRequest, m.SpentBudgetResponse,
                           "The budget spent on the dataset.")
REMAINING_BUDGET = _researcher("get_remaining_budget", m.DatasetRequest,
                               m.RemainingBudgetResponse, "The budget left on the dataset.")
PREVIOUS_QUERIES = _researcher("get_previous_queries", m.DatasetRequest,
                               m.PreviousQueriesResponse, "Your finished queries on the dataset.")

DATASETS = Route("get_datasets", "GET", "/get_datasets",
                 "The datasets you may query, each with your budget on it, by name.",
                 answer=m.GrantedDatasetsResponse)

QUERY_ERRORS = (429,)

JOB_STATUS = Route("get_job_status", "GET", "/status/{uid}",
                   "A background query: in_progress, complete (its result) or failed (its "
                   "error). ?wait=N (seconds, at most 20) waits for it to finish.",
                   answer=m.JobResponse, query=("wait",), errors=(404,))


@dataclass(frozen=True)
class EngineRoutes:
    cost: Route
    query: Route
    dummy: Route


def _engine(spec: EngineSpec) -> EngineRoutes:
    name, label = spec.name, spec.label
    return EngineRoutes(
        _researcher(f"estimate_{name}_cost", spec.cost, m.CostResponse,
                    f"What a {label} query would be charged; nothing is spent.", QUERY_ERRORS),
        _researcher(f"{name}_query", spec.query, m.QueryResponse,
                    f"Run a {label} query on the private data, charged (Idempotency-Key).",
                    (*QUERY_ERRORS, 409, 422), jobs=True),
        _researcher(f"dummy_{name}_query", spec.dummy, m.QueryResponse,
                    f"Run a {label} query on dummy data, free.", (*QUERY_ERRORS, 409),
                    jobs=True),
    )


ENGINES: dict[str, EngineRoutes] = {name: _engine(spec) for name, spec in SPECS.items()}
"""Each engine's three routes, derived from the engines' registry."""


def _admin(name: str, method: str, path: str, summary: str, body: type[BaseModel] | None = None,
           answer: type[BaseModel] | None = None, *, status: int | None = None,
           errors: tuple[int, ...] = (), query: tuple[str, ...] = (),
           content_types: tuple[str, ...] = (JSON,), parse_json: bool = True) -> Route:
    found = (404,) if "{" in path else ()
    return Route(name, method, path, summary, body, answer,
                 status=status or (200 if answer is not None else 204), access="admin",
                 query=query, content_types=content_types, parse_json=parse_json,
                 errors=(*found, *errors))


CREATE_USER = _admin("create_user", "POST", "/admin/users", "Create a user; their token, once.",
                     m.CreateUserRequest, m.UserToken, status=201, errors=(409,))
LIST_USERS = _admin("list_users", "GET", "/admin/users", "Every user.", answer=m.UsersResponse)
GET_USER = _admin("get_user", "GET", "/admin/users/{user_name}", "One user.",
                  answer=m.UserInfo)
DELETE_USER = _admin("delete_user", "DELETE", "/admin/users/{user_name}",
                     "Delete a user; their grants, spent budgets and archives stay, for a "
                     "new user of that name.")
PATCH_USER = _admin("patch_user", "PATCH", "/admin/users/{user_name}",
                    "Allow or stop a user's queries.", m.PatchUserRequest, m.UserInfo)
ROTATE_TOKEN = _admin("rotate_token", "POST", "/admin/users/{user_name}/token",
                      "A new token; the old one stops working.", answer=m.UserToken)
CREATE_DATASET = _admin("create_dataset", "POST", "/admin/datasets",
                        "Register a dataset and its metadata; a retired dataset of that "
                        "name comes back with its grants.", m.CreateDatasetRequest,
                        m.DatasetInfo, status=201, errors=(409,))
LIST_DATASETS = _admin("list_datasets", "GET", "/admin/datasets", "Every active dataset.",
                       answer=m.DatasetsResponse)
GET_DATASET = _admin("get_dataset", "GET", "/admin/datasets/{dataset_name}", "One dataset.",
                     answer=m.DatasetInfo)
CHECK_DATASET = _admin("check_dataset", "POST", "/admin/datasets/{dataset_name}/check",
                       "Load the dataset and compare it with its metadata (counts only).",
                       answer=m.DatasetCheckResponse)
DELETE_DATASET = _admin("delete_dataset", "DELETE", "/admin/datasets/{dataset_name}",
                        "Retire a dataset: it can no longer be queried; its grants, spent "
                        "budgets and archives stay, and registering its name again resumes "
                        "them.", answer=m.DatasetRetired)
LIST_GRANTS = _admin("list_grants", "GET", "/admin/grants", "Every grant, or one user's.",
                     answer=m.GrantsResponse, query=("user_name",))
PUT_GRANT = _admin("put_grant", "PUT", "/admin/grants/{user_name}/{dataset_name}",
                   "Create or change a grant.", m.GrantRequest, m.GrantInfo, errors=(409,))
GET_GRANT = _admin("get_grant", "GET", "/admin/grants/{user_name}/{dataset_name}",
                   "One grant: initial, spent, remaining.", answer=m.GrantInfo)
DELETE_GRANT = _admin("delete_grant", "DELETE", "/admin/grants/{user_name}/{dataset_name}",
                      "Revoke a grant: nothing more can be spent; what it spent is kept, "
                      "and setting the grant again resumes from it.", answer=m.GrantRevoked)
TOP_UP_GRANT = _admin("top_up_grant", "POST", "/admin/grants/{user_name}/{dataset_name}/top_up",
                      "Add to a grant's initial and remaining budget (one atomic update: a "
                      "query in flight keeps its charge).", m.TopUpRequest, m.GrantInfo,
                      errors=(409,))
LIST_JOBS = _admin("list_jobs", "GET", "/admin/jobs", "The background queries in progress.",
                   answer=m.JobsResponse)
LIST_ARCHIVES = _admin("list_archives", "GET", "/admin/archives", "Finished queries.",
                       answer=m.ArchivesResponse, query=("user_name", "dataset_name"))
IMPORT = _admin("import_document", "POST", "/admin/import",
                "Users, datasets and grants from one YAML or JSON document, all or nothing.",
                m.ImportDocument, m.ImportResponse, status=201,
                content_types=(*YAML, JSON), parse_json=False, errors=(404, 409))

OPENAPI = Route("openapi", "GET", "/openapi.json", "This API's OpenAPI 3.1 document.",
                access="public")
LANDING = Route("landing", "GET", "/", "A page for a browser: what this server is, and "
                "where its API is described.", access="public", produces="text/html")
API_REFERENCE = Route("api_reference", "GET", "/api", "The API reference as a page: every "
                      "route, its body, its answers.", access="public", produces="text/html")

DASHBOARD = Route("dashboard", "GET", "/admin/ui", "The admin dashboard, a page for a "
                  "browser: it signs in with an admin token, or with OIDC.", access="public",
                  produces="text/html")
DASHBOARD_FILE = Route("dashboard_file", "GET", "/admin/ui/{file}", "The dashboard's own "
                       "files (its page, script, style and sign-in settings); no secret.",
                       access="public", produces="text/html", errors=(404,))

QUERY_APP: tuple[Route, ...] = (
    HEALTH, OPENAPI, LANDING, API_REFERENCE, DATASET_METADATA, DUMMY_DATASET, INITIAL_BUDGET,
    SPENT_BUDGET,
    REMAINING_BUDGET, PREVIOUS_QUERIES, DATASETS, JOB_STATUS,
    *(r for e in ENGINES.values() for r in (e.cost, e.query, e.dummy)),
)
ADMIN_APP: tuple[Route, ...] = (
    CREATE_USER, LIST_USERS, GET_USER, DELETE_USER, PATCH_USER, ROTATE_TOKEN, CREATE_DATASET,
    LIST_DATASETS, GET_DATASET, CHECK_DATASET, DELETE_DATASET, LIST_GRANTS, PUT_GRANT,
    GET_GRANT, DELETE_GRANT, TOP_UP_GRANT, LIST_ARCHIVES, LIST_JOBS, IMPORT, DASHBOARD,
    DASHBOARD_FILE,
)
