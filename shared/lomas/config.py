"""The one Settings class. Built in the composition roots, passed inward."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Lomas configuration, read from ``LOMAS_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="LOMAS_", frozen=True, extra="ignore")

    mongodb_url: str | None = Field(
        default=None, description="MongoDB URL; unset: the embedded store is started."
    )
    mongodb_url_secret_arn: str | None = Field(
        default=None, description="On AWS: a Secrets Manager secret (ARN or name) holding the "
        "MongoDB URL, read once at cold start when mongodb_url is unset.")
    mongodb_db: str = "lomas"
    state_dir: Path = Path(".lomas")
    data_root: Path | None = Field(
        default=None, description="Local dataset paths resolve inside it (default: state_dir/data)."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 8
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
    job_function_name: str | None = Field(
        default=None, description="The Lambda function that runs jobs (job_runner=lambda); "
        "unset: this function (AWS_LAMBDA_FUNCTION_NAME).")
    job_retention_seconds: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="How long a finished job can be read at "
        "/status/{uid} before the store forgets it (TTL index).")
    job_max_wait_seconds: float = Field(
        default=20.0, ge=0, le=25, description="The longest wait=N a request may ask for "
        "(Prefer: wait, /status?wait): under API Gateway's 30 s timeout.")
    cache_max_bytes: int = Field(
        default=4 << 30, description="Memory for warm tables and their SQLite copies (LRU).")
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
    log_level: str = "INFO"

    @property
    def resolved_data_root(self) -> Path:
        return (self.data_root or self.state_dir / "data").resolve()

    @property
    def embedded_store_path(self) -> Path:
        return self.state_dir / "store.sqlite"
