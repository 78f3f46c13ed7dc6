"""A first metadata file for a CSV or Parquet file, for its data owner to finish.

The types come from the values, as the server will read them (DuckDB, the same null
strings and casts); string columns with few values get their categories. Bounds are
never copied from the data: a bound that is the data's own minimum or maximum reveals
someone's value, so each numeric column gets placeholders (`TODO`) that the server
refuses until the owner sets public bounds. Categories, read from the data, are marked
for the owner to confirm too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lomas.data.checks import ident, literal
from lomas.data.duck import connect
from lomas.data.scan import family
from lomas.errors import first_line
from lomas.sources.files.convert import NA_VALUES
from lomas.sources.files.formats import FormatError, infer_format

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MAX_CATEGORIES = 20
"""A string column with at most this many distinct values (and at most half as many as
it has values) gets categories."""
TYPES = ("int", "float", "string", "boolean", "datetime")
PLACEHOLDER = "TODO"
_INT = "[+-]?(0|[1-9][0-9]*)"  # no leading zero: 007 is a code, a string
_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}([ T].*)?"
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}

HEADER = """\
# Metadata drafted by `lomas-admin datasets draft-metadata` from {name}.
# Researchers see all of it. Before registering it, confirm every line marked TODO:
# bounds (and categories) read from the private data are not private: a bound that is
# the data's own minimum or maximum, or a category that one person alone has, reveals
# something about someone. Set bounds from public knowledge (what any value could be,
# known without this data), never from the data. The server refuses the TODO
# placeholders, so a draft left unfinished cannot be registered.
#
# TODO confirm the privacy unit: as drafted, each row is one individual. If one
# individual may have several rows, give the column that identifies them
# `private_id: true` (it then needs no bounds), set row_privacy to false and max_ids to
# the most rows one individual may have.
max_ids: 1
row_privacy: true
censor_dims: true
clamp_counts: true
clamp_columns: true
columns:
"""


class DraftError(ValueError):
    """The file cannot be drafted from (the message names no value)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    categories: list[str] | None = None


def _scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML 1.2 string


def _key(name: str) -> str:
    return _scalar(name) if name.lower() in _YAML_WORDS else name


def _csv_types(duck: DuckDBPyConnection, names: list[str]) -> dict[str, str]:
    """Each column's type: the first of boolean, int, float, datetime that every value
    fits, else string."""
    tests = {
        "boolean": "lower(trim({c})) NOT IN ('true', 'false')",
        "int": f"NOT regexp_full_match(trim({{c}}), '{_INT}') OR TRY_CAST({{c}} AS BIGINT) "
               "IS NULL",
        "float": "NOT coalesce(isfinite(TRY_CAST({c} AS DOUBLE)), false)",
        "datetime": f"NOT regexp_full_match(trim({{c}}), '{_DATE}') "
                    "OR TRY_CAST({c} AS TIMESTAMP) IS NULL",
    }
    counts = [f"COUNT(*) FILTER (WHERE {ident(n)} IS NOT NULL AND ({t.replace('{c}', ident(n))}))"
              for n in names for t in tests.values()]
    row = duck.execute(f"SELECT {', '.join(counts)} FROM raw").fetchone()
    assert row is not None
    types = {}
    for i, name in enumerate(names):
        misfits = dict(zip(tests, row[i * len(tests):(i + 1) * len(tests)], strict=True))
        types[name] = next((t for t, k in misfits.items() if k == 0), "string")
    return types


def _open(duck: DuckDBPyConnection, path: Path, fmt: str) -> dict[str, str]:
    """The file as the view `raw`; its columns' types."""
    import duckdb

    try:
        if fmt == "csv":
            nulls = ", ".join(literal(v) for v in NA_VALUES)
            duck.execute(
                f"CREATE VIEW raw AS SELECT * FROM read_csv({literal(str(path))}, "
                f"header = true, all_varchar = true, nullstr = [{nulls}])")
        else:
            duck.execute(
                f"CREATE VIEW raw AS SELECT * FROM read_parquet({literal(str(path))})")
        described = duck.execute("DESCRIBE raw").fetchall()
        names = [str(r[0]) for r in described]
        if fmt == "csv":
            return _csv_types(duck, names) if names else {}
    except duckdb.Error as exc:
        raise DraftError(f"{path} is not a readable {fmt.upper()} file: "
                         f"{first_line(exc)}") from exc
    return {str(r[0]): family(str(r[1])) for r in described}


def columns(path: Path, fmt: str | None = None) -> tuple[list[Column], list[str]]:
    """The columns a metadata file can declare, and the names of those it cannot (a
    type of none of TYPES). Raises DraftError."""
    try:
        fmt = infer_format(path.name, fmt, ("csv", "parquet"))
    except FormatError as exc:
        raise DraftError(str(exc)) from exc
    if not path.is_file():
        raise DraftError(f"no file {str(path)!r}: give the path of a CSV or Parquet file")
    import duckdb

    with connect() as duck:
        types = _open(duck, path, fmt)
        if bad := [n for n in types if not n.isidentifier()]:
            raise DraftError(f"column name(s) {', '.join(map(repr, bad))} are not identifiers "
                             "(letters, digits, _; SQL must name them): rename them in the "
                             "file first")
        kept = {n: t for n, t in types.items() if t in TYPES}
        if not kept:
            raise DraftError(f"{path} has no column of a type metadata can declare")
        try:
            found = _described(duck, kept, fmt)
        except duckdb.Error as exc:
            raise DraftError(f"{path} is not a readable {fmt.upper()} file: "
                             f"{first_line(exc)}") from exc
    return found, [n for n in types if n not in kept]


def _described(duck: DuckDBPyConnection, kept: dict[str, str], fmt: str) -> list[Column]:
    """Nulls and categories: a CSV column with no value is a string."""
    stats = ", ".join(f"COUNT({ident(n)}), COUNT(DISTINCT {ident(n)})" for n in kept)
    row = duck.execute(f"SELECT COUNT(*), {stats} FROM raw").fetchone()
    assert row is not None
    found = []
    for i, (name, kind) in enumerate(kept.items()):
        present, distinct = row[1 + 2 * i], row[2 + 2 * i]
        if present == 0 and fmt == "csv":
            kind = "string"  # no value to tell its type by
        categories = None
        if kind == "string" and 0 < distinct <= min(MAX_CATEGORIES, present // 2):
            categories = [str(v[0]) for v in duck.execute(
                f"SELECT DISTINCT {ident(name)} FROM raw WHERE {ident(name)} IS NOT NULL "
                "ORDER BY 1").fetchall()]
        found.append(Column(name, kind, present < row[0], categories))
    return found


def _column(col: Column) -> list[str]:
    lines = [f"  {_key(col.name)}:", f"    type: {col.type}"]
    if col.nullable:
        lines.append("    nullable: true  # TODO confirm: the file has missing values here")
    if col.type in ("int", "float"):
        lines += ["    # TODO confirm: bounds from the data are not private; set public bounds",
                  f"    lower: {PLACEHOLDER}", f"    upper: {PLACEHOLDER}"]
    elif col.type == "datetime":
        lines += ["    # TODO optional: public bounds (not the data's first and last dates)",
                  '    # lower: "2000-01-01"', '    # upper: "2030-12-31"']
    if col.categories is not None:
        lines += ["    # TODO confirm: categories read from the data; keep those known "
                  "publicly, add any missing", "    categories: ["
                  + ", ".join(_scalar(c) for c in col.categories) + "]"]
    return lines


def draft(path: Path, fmt: str | None = None) -> str:
    """A metadata YAML document for the file, with TODO lines for its owner. Raises
    DraftError."""
    found, skipped = columns(path, fmt)
    lines = [HEADER.format(name=path.name).rstrip("\n")]
    for col in found:
        lines += _column(col)
    lines += [f"  # {name}: left out, its type is none of {', '.join(TYPES)}"
              for name in skipped]
    return "\n".join(lines) + "\n"
