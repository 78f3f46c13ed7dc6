"""DataFrames on the wire: pandas "tight" dicts made of JSON-safe values."""

from __future__ import annotations

import json
from typing import Any

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
