"""The one Settings class. Built in the composition roots, passed inward."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                         "ES384", "ES512", "EdDSA")
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def check_oidc_url(url: str, what: str) -> str:
    """An https:// URL, or http:// on loopback (tests, local runs). Raises ValueError."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = host in LOOPBACK_HOSTS or host.startswith("127.")
    if not parts.netloc or not (parts.scheme == "https"
                                or (parts.scheme == "http" and loopback)):
        raise ValueError(f"{what} must be an https:// URL (http:// only on loopback): {url!r}")
    return url


class Settings(BaseSettings):
    """Lomas configuration, read from ``LOMAS_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="LOMAS_", frozen=True, extra="ignore")

    store: Literal["sqlite", "mongodb", "mongoeco"] | None = Field(
        default=None, description="Where users, budgets and archives are kept: sqlite (one "
        "file under state_dir, for one instance: make run, a single-replica container), "
        "mongodb (mongodb_url: every deployment of several instances), or mongoeco (the "
        "embedded MongoDB stand-in, for tests and the benchmark). Unset: mongodb when a "
        "MongoDB URL (or its secret) is set, else sqlite.")
    mongodb_url: str | None = Field(
        default=None, description="MongoDB URL (store=mongodb)."
    )
    mongodb_url_secret_arn: str | None = Field(
        default=None, description="On AWS: a Secrets Manager secret (ARN or name) holding the "
        "MongoDB URL, read once at cold start when mongodb_url is unset.")
    mongodb_db: str = "lomas"
    store_timeout_seconds: float = Field(
        default=5.0, gt=0, description="A store operation that gets no answer in this long "
        "(MongoDB unreachable, SQLite locked) fails with 503 StoreUnavailable and "
        "Retry-After, instead of hanging.")
    state_dir: Path = Path(".lomas")
    data_root: Path | None = Field(
        default=None, description="Local dataset paths resolve inside it (default: state_dir/data)."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 8
    workers: int = Field(
        default=0, ge=0, description="Server processes of the container (lomas-serve), each "
        "with `threads` threads; 0: one per core. The mongoeco store serves one.")
    instances: int = Field(
        default=1, ge=1, description="How many instances (replicas) share this store; set "
        "by the Helm chart. SQLite refuses more than one: it is one file on one disk.")
    auth_cache_seconds: float = Field(
        default=2.0, ge=0, le=5, description="A token's user is looked up again after this "
        "long: a revoked or rotated token stops working within it (0: every request).")
    dev_mode: bool = False
    max_body_bytes: int = 8_000_000
    max_drain_bytes: int = Field(
        default=1 << 30, description="The WSGI server reads (and drops) an oversized body up "
        "to this size so the client can read the 413; beyond it, the connection is closed.")
    max_dummy_rows: int = 100_000
    query_rate: float = Field(
        default=10.0, ge=0, description="Queries (cost, run, dummy) a user may make per second "
        "on average, across all instances (0: no limit).")
    query_burst: int = Field(
        default=100, ge=1, description="Queries a user may make at once: the limit counts "
        "query_burst queries per window of query_burst / query_rate seconds.")
    claim_lease_seconds: float = Field(
        default=900.0, gt=0, description="How long a query holds its Idempotency-Key; a "
        "retry after it (the process died) takes the key over. Longer than any query.")
    job_runner: Literal["threads", "lambda"] = Field(
        default="threads", description="Who runs background queries (Prefer: respond-async): "
        "a pool of worker threads in this process, or an asynchronous invocation of this "
        "Lambda function (set by the SAM template).")
    job_workers: int = Field(
        default=2, ge=1, description="Worker threads running background queries at once "
        "(job_runner=threads); more jobs wait in the queue.")
    fit_timeout_seconds: float = Field(
        default=600.0, gt=0, description="A synthesizer's or a model's fit is stopped after "
        "this long; it fails and its cost stays spent (the data was read). Keep it under "
        "claim_lease_seconds, and under the Lambda function's timeout.")
    fit_concurrency: int = Field(
        default=1, ge=1, description="Fits running at once in one process (each in a child "
        "process, using a core or more); more wait for a slot. Fit jobs have workers of "
        "their own, so they never hold the other jobs' workers.")
    job_function_name: str | None = Field(
        default=None, description="The Lambda function that runs jobs (job_runner=lambda); "
        "unset: this function (AWS_LAMBDA_FUNCTION_NAME).")
    job_retention_seconds: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="How long a finished job can be read at "
        "/status/{uid} before the store forgets it (TTL index).")
    job_max_wait_seconds: float = Field(
        default=20.0, ge=0, le=25, description="The longest wait=N a request may ask for "
        "(Prefer: wait, /status?wait): under API Gateway's 30 s timeout.")
    oidc_issuer: str | None = Field(
        default=None, description="Accept JSON Web Tokens from this OIDC issuer (https://, or "
        "http:// on loopback); unset: API tokens only.")
    oidc_audience: str | None = Field(
        default=None, description="The `aud` a token must have (required with the issuer).")
    oidc_user_claim: str = Field(
        default="preferred_username", description="The claim naming the Lomas user.")
    oidc_admin_claim: str = Field(
        default="groups", description="The claim (a string or a list) that can make an admin.")
    oidc_admin_value: str | None = Field(
        default=None, description="A token whose admin claim holds this value is an admin's "
        "(e.g. a group); unset: only users made admin in Lomas are.")
    oidc_algorithms: Annotated[tuple[str, ...], NoDecode] = Field(
        default=ASYMMETRIC_ALGORITHMS, description="Signature algorithms accepted (asymmetric "
        "only).")
    oidc_leeway_seconds: int = Field(
        default=60, ge=0, le=300, description="Clock skew allowed on exp and nbf.")
    oidc_jwks_min_refresh_seconds: float = Field(
        default=30.0, ge=0, description="An unknown key id fetches the issuer's keys again at "
        "most this often.")
    oidc_dashboard_client_id: str | None = Field(
        default=None, description="The OIDC client (public, authorization code with PKCE) "
        "the admin dashboard signs in with; unset: it signs in with an admin token only.")
    oidc_auto_provision: bool = Field(
        default=False, description="Create a Lomas user (no grants, not admin) on the first "
        "valid token of an unknown name; off: an admin creates users.")
    cache_max_bytes: int = Field(
        default=4 << 30, description="Memory and instance disk for warm datasets (LRU): "
        "frames held in memory and this instance's copies of files (downloads, CSVs made "
        "into Parquet); a file scanned where it lies counts nothing.")
    cache_revalidate_seconds: float = Field(
        default=0.0, description="Trust a cached table this long before asking the source "
        "whether it changed (0: ask on every query; a HEAD or stat is cheap).")
    secrets_file: Path | None = Field(
        default=None, description="YAML/JSON file of named secrets (S3 keys, HTTP headers).")
    aws_secrets_prefix: str | None = Field(
        default=None, description="Also look named secrets up in AWS Secrets Manager "
        "as <prefix><name>.")
    source_connect_timeout: float = 5.0
    source_read_timeout: float = 60.0
    http_max_bytes: int = 2 << 30
    http_max_redirects: int = 3
    postgres_statement_timeout_seconds: float = Field(
        default=60.0, gt=0, description="PostgreSQL datasets: a query running longer is "
        "cancelled by the database (it fails, and its cost stays spent).")
    postgres_pool_size: int = Field(
        default=4, ge=1, description="PostgreSQL datasets: connections per database kept "
        "open by each instance (one per execution at a time).")
    spark_master: str = Field(
        default="local[2]", description="Spark datasets: the master of this process's one "
        "SparkSession (local[N], spark://host:7077, k8s://https://…).")
    spark_conf: dict[str, str] = Field(
        default_factory=dict, description="Spark datasets: more Spark properties, each from "
        "LOMAS_SPARK_CONF_<property with . as _> (e.g. LOMAS_SPARK_CONF_spark_executor_memory"
        "=4g), or LOMAS_SPARK_CONF as a JSON object.")
    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _spark_properties(cls, data: object) -> object:
        """LOMAS_SPARK_CONF_spark_sql_shuffle_partitions=8 -> spark.sql.shuffle.partitions."""
        prefix = "LOMAS_SPARK_CONF_"
        found = {k[len(prefix):].replace("_", "."): v for k, v in os.environ.items()
                 if k.startswith(prefix)}
        if found and isinstance(data, dict):
            data = {**data, "spark_conf": {**found, **dict(data.get("spark_conf") or {})}}
        return data

    @field_validator("oidc_issuer", "oidc_audience", "oidc_admin_value",
                     "oidc_dashboard_client_id", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # a template parameter left empty

    @field_validator("oidc_algorithms", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):  # LOMAS_OIDC_ALGORITHMS=RS256,ES256
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @model_validator(mode="after")
    def _oidc(self) -> Settings:
        if self.oidc_issuer is None:
            return self
        check_oidc_url(self.oidc_issuer, "LOMAS_OIDC_ISSUER")
        if not self.oidc_audience:
            raise ValueError("LOMAS_OIDC_AUDIENCE is required with LOMAS_OIDC_ISSUER")
        if not self.oidc_algorithms or not set(self.oidc_algorithms) <= set(
                ASYMMETRIC_ALGORITHMS):
            raise ValueError("LOMAS_OIDC_ALGORITHMS must be asymmetric algorithms, some of "
                             + ", ".join(ASYMMETRIC_ALGORITHMS))
        return self

    @property
    def resolved_data_root(self) -> Path:
        return (self.data_root or self.state_dir / "data").resolve()

    @property
    def files_cache_dir(self) -> Path:
        """Where file sources keep downloads and CSVs made into Parquet (one folder per
        process, removed when it ends)."""
        return self.state_dir / "cache"

    @property
    def store_kind(self) -> Literal["sqlite", "mongodb", "mongoeco"]:
        if self.store is not None:
            return self.store
        return "mongodb" if self.mongodb_url or self.mongodb_url_secret_arn else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite store's file (store=sqlite)."""
        return self.state_dir / "lomas.sqlite3"

    @property
    def embedded_store_path(self) -> Path:
        """The mongoeco stand-in's file (store=mongoeco)."""
        return self.state_dir / "store.sqlite"
