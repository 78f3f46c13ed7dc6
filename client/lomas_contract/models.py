"""The wire contract of Lomas: every request and response body that is not an engine's
or a source kind's own (those are in `engines` and `sources`).

The server imports these models too, so client and server cannot drift apart.
Requests forbid unknown fields: a typo is an InvalidQuery (an InvalidDocument on an admin
route), not a silent default.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from lomas_contract.base import (
    DEFAULT_ALPHA,
    NAME_PATTERN,
    Access,
    Accuracy,
    AccuracyFields,
    BudgetEpsilon,
    ColumnAccuracy,
    ColumnMetadata,
    CostResponse,
    DatasetMetadata,
    DatasetRequest,
    Delta,
    DummyDatasetRequest,
    DummyFields,
    EngineResult,
    EngineSpec,
    Epsilon,
    FileAccess,
    FileFormat,
    Model,
    Name,
    SecretName,
)
from lomas_contract.engines import QueryResult
from lomas_contract.sources import DatasetAccess

__all__ = [  # the building blocks, re-exported: `models` stays the one place to look
    "DEFAULT_ALPHA", "NAME_PATTERN", "Access", "Accuracy", "AccuracyFields", "BudgetEpsilon",
    "ColumnAccuracy", "ColumnMetadata", "CostResponse",
    "DatasetAccess", "DatasetMetadata", "DatasetRequest", "Delta", "DummyDatasetRequest",
    "DummyFields", "EngineResult", "EngineSpec", "Epsilon", "FileAccess", "FileFormat",
    "Model", "Name", "QueryResult", "SecretName",
]


class InitialBudgetResponse(Model):
    initial_epsilon: float
    initial_delta: float


class SpentBudgetResponse(Model):
    total_spent_epsilon: float
    total_spent_delta: float


class RemainingBudgetResponse(Model):
    remaining_epsilon: float
    remaining_delta: float



class QueryResponse(Model):
    requested_by: str
    epsilon: float
    delta: float
    result: QueryResult


class DummyDatasetResponse(Model):
    dataset_name: str
    dtypes: dict[str, str]
    dummy_df: dict[str, Any]


class DatasetGrant(Model):
    """A dataset the caller may query, and the caller's budget on it."""

    dataset_name: str
    initial_epsilon: float
    initial_delta: float
    spent_epsilon: float
    spent_delta: float
    remaining_epsilon: float
    remaining_delta: float


class GrantedDatasetsResponse(Model):
    """GET /get_datasets: the caller's datasets, by name."""

    datasets: list[DatasetGrant]


class PreviousQuery(Model):
    user_name: str
    dataset_name: str
    engine: str
    request: dict[str, Any]
    epsilon: float
    delta: float
    status: str
    response: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    idempotency_key: str
    timestamp: datetime


def query_text(request: dict[str, Any]) -> str:
    """A query as a person reads it: a SQL text, or the request's other fields (its
    dataset aside) as JSON."""
    if isinstance(request.get("query_str"), str):
        return str(request["query_str"])
    rest = {k: v for k, v in request.items() if k != "dataset_name"}
    return json.dumps(rest, sort_keys=True, default=str)


class PreviousQueriesResponse(Model):
    previous_queries: list[PreviousQuery]


class HealthResponse(Model):
    status: Literal["ok"] = "ok"


class ErrorResponse(Model):
    """Every error body: a stable type name and a safe message."""

    type: str
    message: str


class JobSubmitted(Model):
    """202 to a query sent with `Prefer: respond-async`: read it at /status/{uid}."""

    uid: str


class JobResponse(Model):
    """A background query (GET /status/{uid}), as Lomas 0.5 shapes it."""

    uid: str
    requested_by: str
    status: Literal["in_progress", "complete", "failed"]
    result: QueryResponse | None = None
    """The query's usual answer, once complete."""
    error: ErrorResponse | None = None
    """The query's usual error body, once failed."""
    status_code: int | None = None
    """The HTTP status the query would have had (200, or its error's), once finished."""


class CreateUserRequest(Model):
    user_name: Name
    is_admin: bool = False
    may_query: bool = True


class UserToken(Model):
    """A freshly issued token: shown once, only its hash is stored."""

    user_name: str
    token: str


class UserInfo(Model):
    user_name: str
    is_admin: bool
    may_query: bool


class UsersResponse(Model):
    users: list[UserInfo]


class PatchUserRequest(Model):
    may_query: bool



class CreateDatasetRequest(Model):
    dataset_name: Name
    dataset_access: DatasetAccess
    metadata: DatasetMetadata | None = None
    metadata_path: str | None = Field(
        default=None, description="YAML or JSON file under the data root, instead of inline."
    )
    metadata_access: DatasetAccess | None = Field(
        default=None, description="YAML or JSON metadata from local, S3 or HTTP.")

    @model_validator(mode="after")
    def _one_metadata_source(self) -> CreateDatasetRequest:
        sources = (self.metadata, self.metadata_path, self.metadata_access)
        if sum(s is not None for s in sources) != 1:
            raise ValueError("give exactly one of metadata, metadata_path and metadata_access")
        if self.dataset_name == "df":
            raise ValueError("'df' is reserved: every dataset is also addressable as df")
        return self


class DatasetInfo(Model):
    dataset_name: str
    dataset_access: DatasetAccess
    metadata: DatasetMetadata


class DatasetProblem(Model):
    """One way the data departs from its metadata; counts only, never values."""

    column: str | None
    problem: str
    rows: int = 0


class PrivacySettings(Model):
    """A dataset's SmartNoise table settings, as `datasets check` shows them."""

    max_ids: int
    row_privacy: bool
    censor_dims: bool
    clamp_counts: bool
    clamp_columns: bool


class DatasetCheckResponse(Model):
    dataset_name: str
    rows: int
    columns: list[str]
    problems: list[DatasetProblem]
    privacy: PrivacySettings | None = None
    warnings: list[str] = Field(
        default_factory=list, description="Settings weaker than SmartNoise's defaults.")


class DatasetsResponse(Model):
    datasets: list[str]


class DatasetRetired(Model):
    """A deleted dataset: retired, never forgotten. Its name is its privacy unit."""

    dataset_name: str
    grants_kept: int = Field(description="Its grants, kept with what they spent.")
    message: str


class GrantRevoked(Model):
    """A deleted grant: revoked, never forgotten. Its initial budget is now what it spent."""

    user_name: str
    dataset_name: str
    total_spent_epsilon: float = Field(description="Kept: a grant set again resumes from it.")
    total_spent_delta: float
    message: str


class GrantRequest(Model):
    initial_epsilon: BudgetEpsilon
    initial_delta: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class TopUpRequest(Model):
    """What to add to a grant's initial (and so its remaining) budget."""

    add_epsilon: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    add_delta: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0

    @model_validator(mode="after")
    def _adds_something(self) -> TopUpRequest:
        if self.add_epsilon == 0 and self.add_delta == 0:
            raise ValueError("give add_epsilon or add_delta (or both) above 0")
        return self


class GrantInfo(Model):
    user_name: str
    dataset_name: str
    initial_epsilon: float
    initial_delta: float
    total_spent_epsilon: float
    total_spent_delta: float
    remaining_epsilon: float
    remaining_delta: float
    dataset_retired: bool = Field(
        default=False, description="Its dataset is retired (deleted): the grant is kept, "
        "and resumes when a dataset of that name is registered again.")


class GrantsResponse(Model):
    grants: list[GrantInfo]


class ArchivesResponse(Model):
    archives: list[PreviousQuery]


class JobInfo(Model):
    """A background query not finished yet, as an admin sees it (never its result)."""

    uid: str
    user_name: str
    dataset_name: str
    engine: str
    kind: str = Field(description="query (charged) or dummy (free).")
    epsilon: float
    delta: float
    started: bool = Field(description="A worker took it (its data may have been read).")
    lease_until: datetime


class JobsResponse(Model):
    jobs: list[JobInfo]


class ImportGrant(GrantRequest):
    user_name: Name
    dataset_name: Name


class ImportDocument(Model):
    """Bulk set-up: users, datasets and grants in one YAML document."""

    users: list[CreateUserRequest] = Field(default_factory=list)
    datasets: list[CreateDatasetRequest] = Field(default_factory=list)
    grants: list[ImportGrant] = Field(default_factory=list)


class ImportUnchanged(Model):
    """What an import found in the store already, equal to the document: left as it was."""

    users: list[str] = Field(default_factory=list, description="They keep their token: it "
                             "is not rotated (`users rotate-token` issues a new one).")
    datasets: list[str] = Field(default_factory=list)
    grants: list[GrantInfo] = Field(default_factory=list)


class ImportResponse(Model):
    """What an import wrote; importing the same document again writes nothing."""

    users: list[UserToken] = Field(description="Created, with their tokens (shown once).")
    datasets: list[str] = Field(description="Registered.")
    grants: list[GrantInfo] = Field(description="Created, or set on a dataset the document "
                                    "registers again (never below what was spent).")
    unchanged: ImportUnchanged = Field(default_factory=ImportUnchanged)

