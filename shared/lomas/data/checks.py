"""How a table departs from its metadata, asked in SQL: one aggregate query, counts back.

The same checks for every SQL backend (DuckDB over a file, PostgreSQL): the declared
columns against the table's types, then per column its nulls, values of another type,
values outside the categories and outside the bounds, and the row count. Only counts
cross the wire, never a value. Identifiers and literals come from the metadata (an
administrator's), quoted here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lomas_contract.models import ColumnMetadata, DatasetMetadata, DatasetProblem

NULLS = "nulls in a non-nullable column"
OUTSIDE_CATEGORIES = "type: values outside the categories"
OUTSIDE_BOUNDS = "values outside the bounds (clamped)"
NOT_INT = "type: values that are not int"

FAMILIES = {
    "int": ("int",),
    "float": ("int", "float"),
    "string": ("string",),
    "boolean": ("boolean",),
    "datetime": ("datetime",),
}
"""Which stored families a declared type may be read from without changing a value."""


def ident(name: str, quote: str = '"') -> str:
    """An identifier, quoted (standard SQL's double quotes; Spark's backticks)."""
    return quote + name.replace(quote, quote * 2) + quote


@dataclass(frozen=True)
class Dialect:
    """What the checks' SQL needs to know of a backend's SQL."""

    quote: str = '"'
    text: str = "VARCHAR"
    backslash_escapes: bool = False  # Spark reads \ in a string literal as an escape

    def ident(self, name: str) -> str:
        return ident(name, self.quote)

    def literal(self, value: object) -> str:
        if self.backslash_escapes and isinstance(value, str):
            value = value.replace("\\", "\\\\")
        return literal(value)


STANDARD = Dialect()
SPARK = Dialect("`", "STRING", backslash_escapes=True)


def literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Count:
    column: str
    problem: str
    sql: str  # a COUNT(*) FILTER (...) expression


def counts(metadata: DatasetMetadata, stored: dict[str, str],
           not_integral: Callable[[str], str], dialect: Dialect = STANDARD) -> list[Count]:
    """The counts to ask for the declared columns that exist with a compatible type.

    `stored`: column -> its stored family (int, float, string, boolean, datetime);
    `not_integral(column)`: SQL true for a non-integral value of a float column.
    """
    found: list[Count] = []
    for name, col in metadata.columns.items():
        if stored.get(name) not in FAMILIES[col.type]:
            continue
        c = dialect.ident(name)
        if not col.nullable:
            found.append(Count(name, NULLS, f"COUNT(*) FILTER (WHERE {c} IS NULL)"))
        if col.type == "int" and stored[name] == "float":
            found.append(Count(name, NOT_INT, f"COUNT(*) FILTER (WHERE {not_integral(c)})"))
        if col.categories is not None:
            values = ", ".join(dialect.literal(str(v)) for v in col.categories)
            found.append(Count(name, OUTSIDE_CATEGORIES, f"COUNT(*) FILTER (WHERE CAST({c} AS "
                                                         f"{dialect.text}) NOT IN ({values}))"))
        if _bounded(col):
            found.append(Count(name, OUTSIDE_BOUNDS, f"COUNT(*) FILTER (WHERE {c} < "
                                                     f"{literal(col.lower)} OR {c} > "
                                                     f"{literal(col.upper)})"))
    return found


def _bounded(col: ColumnMetadata) -> bool:
    return col.type in ("int", "float") and col.lower is not None and col.upper is not None


def aggregate(table: str, checks: list[Count]) -> str:
    """One SELECT: COUNT(*), then each check's count."""
    return f"SELECT {', '.join(['COUNT(*)', *(c.sql for c in checks)])} FROM {table}"


def result(metadata: DatasetMetadata, stored: dict[str, str], checks: list[Count],
           row: Sequence[Any] | None) -> tuple[int, list[DatasetProblem]]:
    """The row count and the problems, from the row `aggregate(..., checks)` returned."""
    assert row is not None
    rows = int(row[0])
    return rows, problems(metadata, stored, rows, checks, [int(v) for v in row[1:]])


def problems(metadata: DatasetMetadata, stored: dict[str, str], rows: int,
             checks: list[Count], values: list[int]) -> list[DatasetProblem]:
    """Every problem: missing columns and other types first, then the non-zero counts."""
    found: list[DatasetProblem] = []
    for name, col in metadata.columns.items():
        family = stored.get(name)
        if family is None:
            found.append(DatasetProblem(column=name, problem="missing from the table"))
        elif family not in FAMILIES[col.type]:
            found.append(DatasetProblem(column=name,
                                        problem=f"type: the table has {family}, declared "
                                                f"{col.type}"))
    for check, count in zip(checks, values, strict=True):
        if count:
            found.append(DatasetProblem(column=check.column, problem=check.problem, rows=count))
    if metadata.rows is not None and metadata.rows != rows:
        found.append(DatasetProblem(column=None, rows=rows,
                                    problem=f"declared {metadata.rows} rows"))
    return found
