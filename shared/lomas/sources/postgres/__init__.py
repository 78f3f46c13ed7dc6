"""PostgreSQL datasets: the query runs in the database, only aggregates come back.

SmartNoise-SQL's postgres reader sends its rewritten, clamped aggregate query over a
pooled, read-only session with a statement timeout; the noise is added here. The DSN
comes from a named secret and never leaves this module: not stored, returned, logged
or archived. psycopg loads with the first PostgreSQL dataset.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from lomas.domain import Capability, Dataset
from lomas.ports import SecretStore
from lomas.sources.base import IN_PLACE, SourceError
from lomas.sources.secrets import SecretNotFound
from lomas_contract.models import DatasetCheckResponse
from lomas_contract.sources.postgres import PostgresAccess

if TYPE_CHECKING:
    from lomas.config import Settings
    from lomas.sources.postgres.session import PostgresHandle

CONNINFO_FIELDS = ("host", "port", "dbname", "user", "password", "sslmode", "sslrootcert")


class PostgresSource:
    """One connection pool per named credentials, per instance."""

    offers = frozenset({Capability.SQL})

    def __init__(self, secrets: SecretStore, *, connect_timeout: float = 5.0,
                 statement_timeout: float = 60.0, pool_size: int = 4) -> None:
        self._secrets = secrets
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._pool_size = pool_size
        self._pools: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _secret(self, access: PostgresAccess) -> tuple[str, dict[str, str]]:
        """The named secret's DSN and its separate fields (checked without a driver)."""
        try:
            secret = self._secrets.get(access.credentials_name)
        except SecretNotFound as exc:
            raise SourceError(f"unknown credentials name {access.credentials_name!r}",
                              invalid=True) from exc
        dsn = secret.get("dsn") or secret.get("url") or ""
        fields = {k: v for k, v in secret.items() if k in CONNINFO_FIELDS}
        if not dsn and not fields:
            raise SourceError(f"the secret {access.credentials_name!r} holds no dsn",
                              invalid=True)
        return dsn, fields

    def _conninfo(self, access: PostgresAccess) -> str:
        from psycopg.conninfo import make_conninfo

        dsn, fields = self._secret(access)
        try:
            return make_conninfo(dsn, connect_timeout=max(1, round(self._connect_timeout)),
                                 application_name="lomas", **fields)
        except Exception:  # noqa: BLE001 - not chained: the DSN must not reach a message
            raise SourceError(f"the secret {access.credentials_name!r} holds no valid dsn",
                              invalid=True) from None

    def _pool(self, access: PostgresAccess) -> Any:
        with self._lock:
            pool = self._pools.get(access.credentials_name)
            if pool is None:
                from lomas.sources.postgres.session import open_pool

                pool = open_pool(self._conninfo(access), self._pool_size,
                                 self._connect_timeout, self._statement_timeout)
                self._pools[access.credentials_name] = pool
            return pool

    def validate(self, access: PostgresAccess) -> None:
        self._secret(access)

    def version(self, access: PostgresAccess) -> str | None:
        return IN_PLACE

    def open(self, dataset: Dataset) -> PostgresHandle:
        from lomas.sources.postgres.session import PostgresHandle

        access = dataset.access
        assert isinstance(access, PostgresAccess)
        return PostgresHandle(self._pool(access), access.table, dataset.name,
                              list(dataset.metadata.columns))

    def check(self, dataset: Dataset) -> DatasetCheckResponse:
        """Aggregate queries only: the row count, each column's type, nulls, bounds and
        categories against the metadata, as counts."""
        from lomas.sources.postgres.check import check

        return check(self.open(dataset), dataset)

    def read_bytes(self, access: Any) -> bytes:
        raise SourceError("a PostgreSQL source holds tables, not metadata files")

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


def build(settings: Settings, secrets: SecretStore) -> PostgresSource:
    return PostgresSource(secrets, connect_timeout=settings.source_connect_timeout,
                          statement_timeout=settings.postgres_statement_timeout_seconds,
                          pool_size=settings.postgres_pool_size)
