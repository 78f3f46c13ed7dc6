"""Reading tables and metadata files into pandas / models, and checking them.

A value that does not fit its declared type is an error, never coerced.
Problems are reported as counts per column, never as values.
"""

from __future__ import annotations

import io
import json
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from lomas.data.frames import pandas_dtype
from lomas_contract.models import ColumnMetadata, DatasetMetadata, DatasetProblem

if TYPE_CHECKING:  # pandas loads with the first table, not with the admin function
    import pandas as pd


class FormatError(ValueError):
    """The file cannot be read as the declared table (message names no value)."""


NULLS = "nulls in a non-nullable column"


def infer_format(name: str, declared: str | None, allowed: tuple[str, ...]) -> str:
    fmt = declared or PurePosixPath(name.split("?", 1)[0]).suffix.lstrip(".").lower()
    fmt = {"yml": "yaml", "pq": "parquet"}.get(fmt, fmt)
    if fmt not in allowed:
        raise FormatError(f"unknown file format {fmt!r}; expected one of {', '.join(allowed)}")
    return fmt


def _csv(source: Any, metadata: DatasetMetadata) -> pd.DataFrame:
    import pandas as pd

    columns = metadata.columns
    dtypes = {name: d for name, col in columns.items() if (d := pandas_dtype(col))}
    dates = [name for name, col in columns.items() if col.type == "datetime"]
    if hasattr(source, "seek"):
        start = source.tell()
    try:
        return pd.read_csv(source, usecols=list(columns), dtype=dtypes, parse_dates=dates)
    except ValueError as exc:  # a value of the wrong type, or a missing column
        if not hasattr(source, "seek"):
            raise FormatError("the CSV does not match the metadata") from exc
        source.seek(start)
        raise FormatError(_diagnose_csv(source, metadata)) from exc


def _diagnose_csv(source: Any, metadata: DatasetMetadata) -> str:
    """Which columns hold values of another type, and how many (never which values)."""
    import pandas as pd

    try:
        raw = pd.read_csv(source, dtype=str, keep_default_na=True)
    except ValueError:
        return "the file is not a readable CSV"
    missing = [c for c in metadata.columns if c not in raw.columns]
    if missing:
        return f"columns missing from the file: {', '.join(missing)}"
    parts = []
    for name, col in metadata.columns.items():
        values = raw[name].dropna()
        if col.type in ("int", "float"):
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna() | ((numbers % 1 != 0) if col.type == "int" else False)
        elif col.type == "datetime":
            bad = pd.to_datetime(values, errors="coerce").isna()
        elif col.type == "boolean":
            bad = ~values.str.lower().isin(["true", "false", "0", "1"])
        else:
            continue
        if count := int(bad.sum()):
            parts.append(f"column {name!r}: {count} values are not {col.type}")
        if not col.nullable and col.type == "int" and len(values) < len(raw):
            parts.append(f"column {name!r}: empty values in a non-nullable int column")
    return "; ".join(parts) or "the CSV does not match the metadata"


def _parquet(source: Any, metadata: DatasetMetadata) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source, columns=list(metadata.columns))
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(f"the Parquet file cannot be read: {_first_line(exc)}") from exc
    import pandas as pd
    import pyarrow as pa

    strings = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}
    frame = table.to_pandas(types_mapper=strings.get)  # strings stay in Arrow: no copy
    for name, col in metadata.columns.items():
        frame[name] = _cast_exact(frame[name], name, col)
    return frame


def _cast_exact(series: pd.Series, name: str, col: ColumnMetadata) -> pd.Series:
    """Cast a Parquet column to the declared dtype only where no value changes."""
    kind = series.dtype.kind
    ok = {
        "int": kind in "iu",
        "float": kind in "iuf",
        "boolean": kind == "b" or str(series.dtype) == "boolean",
        "string": kind in "OUS" or str(series.dtype) == "string",
        "datetime": kind == "M",
    }[col.type]
    if col.type == "int" and kind == "f":  # Parquet ints with nulls may come back as float
        non_null = series.dropna()
        ok = bool((non_null == non_null.round()).all())
    if not ok:
        raise FormatError(f"column {name!r} is {series.dtype}, declared {col.type}")
    dtype = pandas_dtype(col)
    return series.astype(dtype) if dtype else series


def read_table(source: Any, fmt: str, metadata: DatasetMetadata,
               strict: bool = True) -> pd.DataFrame:
    """Read CSV or Parquet (a path, bytes or a file object) with the declared dtypes.

    strict: values outside the declared categories are an error too (not only
    values of another type); `check` reads with strict=False to list them all.
    """
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    frame = _csv(source, metadata) if fmt == "csv" else _parquet(source, metadata)
    frame = frame[list(metadata.columns)]
    # Values of another type, and nulls where the metadata promises none (SmartNoise
    # would compute with that promise): the data is refused, never quietly queried.
    type_problems = [p for p in check(frame, metadata)
                     if p.problem.startswith("type") or p.problem == NULLS]
    if strict and type_problems:
        raise FormatError("; ".join(f"{p.column}: {p.problem}" for p in type_problems))
    return frame


def read_metadata(data: bytes, fmt: str) -> DatasetMetadata:
    if fmt == "json":
        raw = json.loads(data)
    else:
        import yaml  # only for YAML metadata (12 ms of imports)

        raw = yaml.safe_load(data)
    return DatasetMetadata.model_validate(raw)


def check(frame: pd.DataFrame, metadata: DatasetMetadata) -> list[DatasetProblem]:
    """Where the data departs from its metadata, as counts (no values)."""
    import pandas as pd

    problems: list[DatasetProblem] = []
    for name, col in metadata.columns.items():
        series = frame[name]
        nulls = int(series.isna().sum())
        if nulls and not col.nullable:
            problems.append(DatasetProblem(column=name, problem=NULLS, rows=nulls))
        values = series.dropna()
        if col.type == "datetime" and series.dtype.kind != "M":  # pandas left it as text
            bad = int(pd.to_datetime(values, errors="coerce", format="mixed").isna().sum())
            problems.append(DatasetProblem(column=name, rows=bad,
                                           problem="type: values that are not datetimes"))
            continue
        if col.categories is not None:
            outside = int((~values.isin(col.categories)).sum())
            if outside:
                problems.append(DatasetProblem(column=name, rows=outside,
                                               problem="type: values outside the categories"))
        if col.type in ("int", "float") and col.lower is not None and col.upper is not None:
            out = int(((values < col.lower) | (values > col.upper)).sum())
            if out:
                problems.append(DatasetProblem(column=name, rows=out,
                                               problem="values outside the bounds (clamped)"))
    if metadata.rows is not None and metadata.rows != len(frame):
        problems.append(DatasetProblem(column=None, rows=len(frame),
                                       problem=f"declared {metadata.rows} rows"))
    return problems


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
