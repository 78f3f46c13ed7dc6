"""Reading a table into pandas with the dtypes its metadata declares."""

from __future__ import annotations

from typing import IO, Any

import pandas as pd
from lomas_client.models import ColumnMetadata, DatasetMetadata


def pandas_dtype(column: ColumnMetadata) -> str | None:
    """The pandas dtype for a declared column; None for datetimes (parsed apart)."""
    match column.type:
        case "int":
            return "Int64" if column.nullable else "int64"
        case "float":
            return "float64"
        case "boolean":
            return "boolean"
        case "string":
            return "string"
        case _:
            return None


def read_csv(source: str | IO[Any], metadata: DatasetMetadata) -> pd.DataFrame:
    """Read a CSV; a value that does not fit its declared type raises ValueError."""
    columns = metadata.columns
    dtypes = {name: d for name, col in columns.items() if (d := pandas_dtype(col))}
    dates = [name for name, col in columns.items() if col.type == "datetime"]
    frame = pd.read_csv(source, usecols=list(columns), dtype=dtypes, parse_dates=dates)
    return frame[list(columns)]
