"""DataFrames on the wire: pandas "tight" dicts made of JSON-safe values."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lomas_contract.models import ColumnMetadata

if TYPE_CHECKING:  # pandas loads with the first frame: the admin function never needs it
    import pandas as pd


def to_tight(frame: pd.DataFrame) -> dict[str, Any]:
    """Serialise with NaN as null, numpy scalars as Python numbers, dates as ISO."""
    split = json.loads(frame.to_json(orient="split", date_format="iso", date_unit="s"))
    return {
        "index": split["index"],
        "columns": split["columns"],
        "data": split["data"],
        "index_names": list(frame.index.names),
        "column_names": list(frame.columns.names),
    }


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
            return "string[pyarrow]"  # Arrow-backed: checked and scanned without Python objects
        case _:
            return None
