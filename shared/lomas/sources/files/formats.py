"""File formats: which one a file is, and reading metadata files.

Data files (CSV, Parquet) are scanned by DuckDB (`lomas.data.scan`,
`lomas.sources.files.convert`); metadata files (YAML, JSON) are read here.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from lomas_contract.models import DatasetMetadata


class FormatError(ValueError):
    """The file cannot be read as the declared table (message names no value)."""


def infer_format(name: str, declared: str | None, allowed: tuple[str, ...]) -> str:
    fmt = declared or PurePosixPath(name.split("?", 1)[0]).suffix.lstrip(".").lower()
    fmt = {"yml": "yaml", "pq": "parquet"}.get(fmt, fmt)
    if fmt not in allowed:
        raise FormatError(f"unknown file format {fmt!r}; expected one of {', '.join(allowed)}")
    return fmt


def read_metadata(data: bytes, fmt: str) -> DatasetMetadata:
    """Raises ValueError (not JSON or YAML) or pydantic's ValidationError."""
    if fmt == "json":
        raw = json.loads(data)
    else:
        import yaml

        from lomas import yaml12  # only for YAML metadata (12 ms of imports)

        try:
            raw = yaml12.load(data)
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML{yaml12.where(exc)}") from exc
    return DatasetMetadata.model_validate(raw)
