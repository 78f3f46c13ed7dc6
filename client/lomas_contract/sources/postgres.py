"""A table in PostgreSQL (or a server that speaks its protocol: Redshift, Greenplum)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lomas_contract.base import Access, SecretName

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]{0,62}"
QUALIFIED_TABLE = rf"^{IDENTIFIER}\.{IDENTIFIER}$"


class PostgresAccess(Access):
    """SmartNoise-SQL's rewritten query runs in the database; only aggregates come back."""

    type: Literal["postgres"] = "postgres"
    credentials_name: SecretName = Field(
        description="A named secret the server holds: {dsn: 'postgresql://…'} (or host, "
        "port, dbname, user, password). Give a role that may only SELECT this table.")
    table: str = Field(pattern=QUALIFIED_TABLE, description="schema.table, as in the database.")

    def location(self) -> str:
        return f"postgres table {self.table} ({self.credentials_name})"

    @classmethod
    def from_source(cls, source: str, **options: str | None) -> dict[str, Any] | None:
        """postgres:schema.table (with the credentials name)"""
        if not source.startswith("postgres:"):
            return None
        return cls.body(table=source.removeprefix("postgres:"),
                        credentials_name=options.get("credentials_name"))
