"""The wire contract of Lomas: every request and response body, in one module.

The server imports these models too, so client and server cannot drift apart.
Requests forbid unknown fields: a typo is an InvalidQuery, not a silent default.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
"""User and dataset names: SQL identifiers, so a dataset is addressable in SQL."""

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Epsilon = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Delta = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
BudgetEpsilon = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------- metadata ---
class ColumnMetadata(Model):
    """One column as the data owner declares it; bounds are public knowledge."""

    type: Literal["string", "int", "float", "boolean", "datetime"]
    nullable: bool = False
    lower: float | int | str | None = None
    upper: float | int | str | None = None
    cardinality: int | None = Field(default=None, ge=1)
    categories: list[str] | list[int] | None = None
    precision: int | None = None
    private_id: bool = False

    @model_validator(mode="after")
    def _check_bounds(self) -> ColumnMetadata:
        if self.type in ("int", "float") and not self.private_id:
            if self.lower is None or self.upper is None:
                raise ValueError(f"a {self.type} column needs lower and upper bounds")
            if not (isinstance(self.lower, int | float) and isinstance(self.upper, int | float)):
                raise ValueError("numeric bounds must be numbers")
            if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
                raise ValueError("numeric bounds must be finite")
            if self.lower >= self.upper:
                raise ValueError("lower must be below upper")
        if self.categories is not None:
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("categories must be distinct")
            if self.cardinality is not None and self.cardinality != len(self.categories):
                raise ValueError("cardinality must equal the number of categories")
        if self.type == "datetime" and self.lower is not None and self.upper is not None:
            self._check_dates(str(self.lower), str(self.upper))
        return self

    @staticmethod
    def _check_dates(lower: str, upper: str) -> None:
        if datetime.fromisoformat(lower) >= datetime.fromisoformat(upper):
            raise ValueError("lower must be before upper")


class DatasetMetadata(Model):
    """What researchers may know about a dataset (SmartNoise-SQL vocabulary).

    Defaults are never weaker than SmartNoise's: GROUP BY keys are censored
    (`censor_dims`), each row is one individual unless a column is the
    `private_id`, and a column holds no nulls unless declared `nullable` (data
    that does is refused, not queried). `clamp_counts` (noisy counts below 0
    become 0) is post-processing, which cannot weaken a guarantee.
    """

    max_ids: int = Field(default=1, ge=1)
    row_privacy: bool = Field(
        default=True, description="Each row is one individual. Default: true unless a column "
        "is the private_id; true together with a private_id column is refused.")
    rows: int | None = Field(default=None, ge=0)
    censor_dims: bool = Field(
        default=True, description="Release only GROUP BY keys whose noisy count passes "
        "SmartNoise's threshold (needs delta > 0). False releases every key present in the "
        "private data: an explicit administrator choice.")
    clamp_counts: bool = True
    clamp_columns: bool = True
    columns: dict[str, ColumnMetadata] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _row_privacy_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "row_privacy" not in data:
            columns = data.get("columns")
            keyed = isinstance(columns, dict) and any(
                (c.private_id if isinstance(c, ColumnMetadata)
                 else isinstance(c, dict) and c.get("private_id")) for c in columns.values())
            data = {**data, "row_privacy": not keyed}
        return data

    @model_validator(mode="after")
    def _one_unit_of_privacy(self) -> DatasetMetadata:
        if self.row_privacy and any(c.private_id for c in self.columns.values()):
            raise ValueError("row_privacy cannot be true when a column is the private_id: "
                             "rows of one individual would count as different individuals")
        return self

    @field_validator("columns")
    @classmethod
    def _column_names(cls, value: dict[str, ColumnMetadata]) -> dict[str, ColumnMetadata]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"column name {name!r} is not an identifier")
        return value


# --------------------------------------------------------- query requests ---
class DatasetRequest(Model):
    dataset_name: Name


class DummyDatasetRequest(DatasetRequest):
    dummy_nb_rows: int = Field(default=100, ge=1)
    dummy_seed: int = 42


class SmartnoiseSqlCostRequest(DatasetRequest):
    query_str: str = Field(min_length=1, max_length=20_000)
    epsilon: Epsilon
    delta: Delta
    mechanisms: dict[str, str] = Field(default_factory=dict)


class SmartnoiseSqlRequest(SmartnoiseSqlCostRequest):
    postprocess: bool = True


class SmartnoiseSqlDummyRequest(SmartnoiseSqlRequest):
    dummy_nb_rows: int = Field(default=100, ge=1)
    dummy_seed: int = 42


class OpenDPCostRequest(DatasetRequest):
    opendp_json: str = Field(min_length=2, max_length=8_000_000,
                             description="A Measurement serialized with opendp.serialize.")
    fixed_delta: Delta | None = Field(
        default=None, description="For zCDP and smoothed pipelines: the delta to charge.")


class OpenDPRequest(OpenDPCostRequest):
    pass


class OpenDPDummyRequest(OpenDPRequest):
    dummy_nb_rows: int = Field(default=100, ge=1)
    dummy_seed: int = 42


# -------------------------------------------------------- query responses ---
class CostResponse(Model):
    """What the query would be charged."""

    epsilon: float
    delta: float


class InitialBudgetResponse(Model):
    initial_epsilon: float
    initial_delta: float


class SpentBudgetResponse(Model):
    total_spent_epsilon: float
    total_spent_delta: float


class RemainingBudgetResponse(Model):
    remaining_epsilon: float
    remaining_delta: float


class SmartnoiseSqlResult(Model):
    type: Literal["smartnoise_sql"] = "smartnoise_sql"
    df: dict[str, Any]
    """A pandas DataFrame as ``DataFrame.to_dict(orient="tight")``."""


class OpenDPResult(Model):
    type: Literal["opendp"] = "opendp"
    value: Any = None
    """A number or a list of numbers, as a Measurement released it."""
    df: dict[str, Any] | None = None
    """A polars query's released table, as a pandas "tight" dict."""


class QueryResponse(Model):
    requested_by: str
    epsilon: float
    delta: float
    result: Annotated[SmartnoiseSqlResult | OpenDPResult, Field(discriminator="type")]


class DummyDatasetResponse(Model):
    dataset_name: str
    dtypes: dict[str, str]
    dummy_df: dict[str, Any]


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


# ------------------------------------------------------------------ admin ---
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


SecretName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-/]{1,128}$")]
FileFormat = Literal["csv", "parquet", "json", "yaml"]


class Access(Model):
    format: FileFormat | None = Field(
        default=None, description="csv or parquet for data, yaml or json for metadata; "
        "default: from the file name's suffix.")

    def location(self) -> str:
        """Where the file is, for messages to an administrator (never to researchers)."""
        raise NotImplementedError


class LocalAccess(Access):
    """A file under the server's data root."""

    type: Literal["local"] = "local"
    path: str = Field(min_length=1)

    def location(self) -> str:
        return self.path


class S3Access(Access):
    """An object in S3 or an S3-compatible store (MinIO, Ceph, LocalStack)."""

    type: Literal["s3"] = "s3"
    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    region: str | None = None
    credentials_name: SecretName | None = Field(
        default=None, description="Named credentials the server holds; none: its own role.")

    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class HttpAccess(Access):
    """A file on an HTTP(S) server."""

    type: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://", max_length=2048)
    headers_name: SecretName | None = Field(
        default=None, description="A named secret holding request headers (e.g. a token).")

    def location(self) -> str:
        return self.url.split("?", 1)[0]


DatasetAccess = Annotated[LocalAccess | S3Access | HttpAccess, Field(discriminator="type")]


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


class GrantRequest(Model):
    initial_epsilon: BudgetEpsilon
    initial_delta: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class GrantInfo(Model):
    user_name: str
    dataset_name: str
    initial_epsilon: float
    initial_delta: float
    total_spent_epsilon: float
    total_spent_delta: float
    remaining_epsilon: float
    remaining_delta: float


class GrantsResponse(Model):
    grants: list[GrantInfo]


class ArchivesResponse(Model):
    archives: list[PreviousQuery]


class ImportGrant(GrantRequest):
    user_name: Name
    dataset_name: Name


class ImportDocument(Model):
    """Bulk set-up: users, datasets and grants in one YAML document."""

    users: list[CreateUserRequest] = Field(default_factory=list)
    datasets: list[CreateDatasetRequest] = Field(default_factory=list)
    grants: list[ImportGrant] = Field(default_factory=list)


class ImportResponse(Model):
    users: list[UserToken]
    datasets: list[str]
    grants: list[GrantInfo]
