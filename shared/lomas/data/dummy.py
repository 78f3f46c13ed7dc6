"""Dummy data from the declared metadata only: never from the private data."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

from lomas.data.frames import pandas_dtype
from lomas_contract.models import ColumnMetadata, DatasetMetadata

NULL_SHARE = 0.1
"""Share of missing values in a nullable column."""


def _column(col: ColumnMetadata, rows: int, rng: np.random.Generator) -> pd.Series:
    match col.type:
        case "int" if col.lower is None or col.upper is None:  # a private_id: ids, some repeated
            values = rng.integers(1, max(rows, 1), rows, endpoint=True)
        case "int":
            values = rng.integers(int(col.lower), int(col.upper), rows, endpoint=True)  # type: ignore[arg-type]
        case "float" if col.lower is None or col.upper is None:
            values = rng.uniform(0.0, 1.0, rows)
        case "float":
            values = rng.uniform(float(col.lower), float(col.upper), rows)  # type: ignore[arg-type]
        case "boolean":
            values = rng.integers(0, 1, rows, endpoint=True).astype(bool)
        case "datetime":
            low = pd.Timestamp(col.lower or "2000-01-01").value
            high = pd.Timestamp(col.upper or "2030-01-01").value
            values = pd.to_datetime(rng.integers(low, high, rows))
        case _:
            if col.categories:
                values = rng.choice(np.array(col.categories, dtype=object), rows)
            else:
                letters = np.array(list(string.ascii_lowercase))
                values = np.array(["".join(rng.choice(letters, 8)) for _ in range(rows)])
    series = pd.Series(values)
    dtype = pandas_dtype(col)
    if dtype:
        series = series.astype(dtype)
    if col.nullable:
        series = series.mask(rng.random(rows) < NULL_SHARE)
    return series


def dummy_frame(metadata: DatasetMetadata, rows: int, seed: int) -> pd.DataFrame:
    """A seeded random table with the declared columns, types, bounds and categories."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: _column(c, rows, rng) for name, c in metadata.columns.items()})
