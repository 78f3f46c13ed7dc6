"""`datasets check` on a PostgreSQL table: one aggregate query, counts back, no values."""

from __future__ import annotations

import psycopg

from lomas.data import checks
from lomas.domain import Dataset
from lomas.errors import DatasetUnavailable
from lomas.sources.base import report, unloadable
from lomas.sources.postgres.session import PostgresHandle
from lomas_contract.models import DatasetCheckResponse, DatasetProblem

FAMILIES = {
    "smallint": "int", "integer": "int", "bigint": "int",
    "real": "float", "double precision": "float", "numeric": "float",
    "text": "string", "character varying": "string", "character": "string",
    "boolean": "boolean",
    "date": "datetime", "timestamp without time zone": "datetime",
    "timestamp with time zone": "datetime",
}


def _stored(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """column -> its family, from the catalog (no row is read)."""
    schema, name = table.split(".")
    rows = conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = %s AND table_name = %s", (schema, name)).fetchall()
    return {str(c): FAMILIES.get(str(t), str(t)) for c, t in rows}


def check(handle: PostgresHandle, dataset: Dataset) -> DatasetCheckResponse:
    """The row count, and per column its type, nulls, bounds and categories, as counts."""
    md = dataset.metadata
    try:
        with handle.connection() as conn:
            stored = _stored(conn, handle.table)
            if not stored:
                return report(dataset, 0, [DatasetProblem(
                    column=None, problem=f"no table {handle.table} (or no access to it)")])
            found = checks.counts(md, stored, lambda c: f"{c}::numeric <> trunc({c}::numeric)")
            schema, name = handle.table.split(".")
            table = f"{checks.ident(schema)}.{checks.ident(name)}"
            row = conn.execute(checks.aggregate(table, found)).fetchone()
            conn.rollback()
    except DatasetUnavailable as exc:
        return unloadable(dataset, exc.message)
    except psycopg.Error as exc:
        return unloadable(dataset, type(exc).__name__)
    return report(dataset, *checks.result(md, stored, found, row))
