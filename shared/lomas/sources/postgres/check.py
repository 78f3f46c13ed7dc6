"""`datasets check` on a PostgreSQL table: aggregate queries only, counts back, no values."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from lomas.domain import Dataset
from lomas.errors import DatasetUnavailable
from lomas.sources.files.formats import NULLS
from lomas.sources.postgres.session import PostgresHandle
from lomas_contract.models import ColumnMetadata, DatasetCheckResponse, DatasetProblem

TYPES = {
    "int": {"smallint", "integer", "bigint"},
    "float": {"smallint", "integer", "bigint", "real", "double precision", "numeric"},
    "string": {"text", "character varying", "character", "name", "uuid"},
    "boolean": {"boolean"},
    "datetime": {"date", "timestamp without time zone", "timestamp with time zone"},
}


def _column_types(conn: psycopg.Connection, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    rows = conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = %s AND table_name = %s", (schema, name)).fetchall()
    return {str(c): str(t) for c, t in rows}


def _counts(name: str, col: ColumnMetadata) -> list[tuple[str, sql.Composable]]:
    """(problem, COUNT(*) FILTER (...)) for one declared column."""
    ident = sql.Identifier(name)
    found: list[tuple[str, sql.Composable]] = [
        (NULLS, sql.SQL("COUNT(*) FILTER (WHERE {} IS NULL)").format(ident))]
    if col.categories is not None:
        found.append(("type: values outside the categories", sql.SQL(
            "COUNT(*) FILTER (WHERE {}::text NOT IN ({}))").format(
                ident, sql.SQL(", ").join(sql.Literal(str(c)) for c in col.categories))))
    if col.type in ("int", "float") and col.lower is not None and col.upper is not None:
        found.append(("values outside the bounds (clamped)", sql.SQL(
            "COUNT(*) FILTER (WHERE {} < {} OR {} > {})").format(
                ident, sql.Literal(col.lower), ident, sql.Literal(col.upper))))
    if col.type == "int":
        found.append(("type: values that are not int", sql.SQL(
            "COUNT(*) FILTER (WHERE {}::numeric <> trunc({}::numeric))").format(ident, ident)))
    return found


def check(handle: PostgresHandle, dataset: Dataset) -> DatasetCheckResponse:
    """The row count, and per column its type, nulls, bounds and categories, as counts."""
    columns, md = list(dataset.metadata.columns), dataset.metadata
    problems: list[DatasetProblem] = []
    try:
        with handle.connection() as conn:
            types = _column_types(conn, handle.table)
            if not types:
                problems.append(DatasetProblem(column=None,
                                               problem=f"no table {handle.table} (or no access)"))
                return DatasetCheckResponse(dataset_name=dataset.name, rows=0,
                                            columns=columns, problems=problems)
            checks: list[tuple[str, str, sql.Composable]] = []
            for name, col in md.columns.items():
                actual = types.get(name)
                if actual is None:
                    problems.append(DatasetProblem(column=name, problem="missing from the table"))
                elif actual not in TYPES[col.type]:
                    problems.append(DatasetProblem(
                        column=name, problem=f"type: the table has {actual}, declared {col.type}"))
                else:
                    checks += [(name, problem, count) for problem, count in _counts(name, col)]
            rows, counts = _aggregate(conn, handle.table, [c for _, _, c in checks])
            conn.rollback()
    except DatasetUnavailable as exc:
        problems.append(DatasetProblem(column=None, problem=f"cannot load: {exc.message}"))
        return DatasetCheckResponse(dataset_name=dataset.name, rows=0, columns=columns,
                                    problems=problems)
    except psycopg.Error as exc:
        problem = f"cannot load: {type(exc).__name__}: {_first_line(exc)}"
        return DatasetCheckResponse(dataset_name=dataset.name, rows=0, columns=columns,
                                    problems=[DatasetProblem(column=None, problem=problem)])
    for (name, problem, _), count in zip(checks, counts, strict=True):
        if count:
            problems.append(DatasetProblem(column=name, problem=problem, rows=count))
    if md.rows is not None and md.rows != rows:
        problems.append(DatasetProblem(column=None, rows=rows, problem=f"declared {md.rows} rows"))
    return DatasetCheckResponse(dataset_name=dataset.name, rows=rows, columns=columns,
                                problems=problems)


def _aggregate(conn: psycopg.Connection, table: str,
               counts: list[sql.Composable]) -> tuple[int, list[int]]:
    """One aggregate SELECT over the table: COUNT(*) and every check's count."""
    schema, name = table.split(".")
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join([sql.SQL("COUNT(*)"), *counts]), sql.Identifier(schema, name))
    row: Any = conn.execute(query).fetchone()
    return int(row[0]), [int(v) for v in row[1:]]


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
