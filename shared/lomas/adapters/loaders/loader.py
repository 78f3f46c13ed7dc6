"""The DatasetLoader: picks the source by access type, reads the format, maps errors.

Researchers get a generic DatasetUnavailable; the cause (location, HTTP status,
S3 error code, never a credential or a value) goes to the log and, for
`check`, to the administrator.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lomas_client.models import DatasetCheckResponse, DatasetMetadata, DatasetProblem
from pydantic import ValidationError

from lomas.adapters.loaders import formats
from lomas.adapters.loaders.formats import FormatError
from lomas.adapters.loaders.http import HttpSource
from lomas.adapters.loaders.local import LocalSource
from lomas.adapters.loaders.s3 import S3Source
from lomas.adapters.loaders.source import SourceError
from lomas.domain import Dataset, DatasetAccess
from lomas.errors import DatasetUnavailable, InvalidQuery

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DATA_FORMATS = ("csv", "parquet")
METADATA_FORMATS = ("yaml", "json")


class Loader:
    def __init__(self, local: LocalSource, s3: S3Source, http: HttpSource) -> None:
        self._sources: dict[str, Any] = {"local": local, "s3": s3, "http": http}

    def _source(self, access: DatasetAccess) -> Any:
        return self._sources[access.type]

    def validate_access(self, access: DatasetAccess) -> None:
        """Raises InvalidQuery for a data source that can never work (path, secret, format)."""
        try:
            self._source(access).validate(access)
            formats.infer_format(access.location(), access.format, DATA_FORMATS)
        except (SourceError, FormatError) as exc:
            raise InvalidQuery(f"Invalid dataset access: {exc}") from exc

    def load_metadata(self, access: DatasetAccess) -> DatasetMetadata:
        """Read a YAML/JSON metadata file. Raises InvalidQuery (for the admin)."""
        try:
            fmt = formats.infer_format(access.location(), access.format, METADATA_FORMATS)
            data = self._source(access).fetch(access)
            raw = data.read_bytes() if hasattr(data, "read_bytes") else data
            return formats.read_metadata(raw, fmt)
        except (SourceError, FormatError) as exc:
            raise InvalidQuery(f"The metadata cannot be read: {exc}") from exc
        except (ValueError, ValidationError) as exc:
            raise InvalidQuery(f"The metadata is not valid: {exc}") from exc

    def version(self, dataset: Dataset) -> str | None:
        try:
            return self._source(dataset.access).version(dataset.access)
        except SourceError as exc:
            raise self._unavailable(dataset, exc) from exc

    def load(self, dataset: Dataset) -> pd.DataFrame:
        try:
            return self._read(dataset)
        except (SourceError, FormatError) as exc:
            raise self._unavailable(dataset, exc) from exc

    def _read(self, dataset: Dataset, strict: bool = True) -> pd.DataFrame:
        access = dataset.access
        fmt = formats.infer_format(access.location(), access.format, DATA_FORMATS)
        return formats.read_table(self._source(access).fetch(access), fmt, dataset.metadata,
                                  strict)

    def check(self, dataset: Dataset) -> DatasetCheckResponse:
        """Load once and compare with the metadata; problems as counts, never values."""
        columns = list(dataset.metadata.columns)
        try:
            frame = self._read(dataset, strict=False)
        except (SourceError, FormatError) as exc:
            problem = DatasetProblem(column=None, problem=f"cannot load: {exc}")
            return DatasetCheckResponse(dataset_name=dataset.name, rows=0, columns=columns,
                                        problems=[problem])
        return DatasetCheckResponse(dataset_name=dataset.name, rows=len(frame), columns=columns,
                                    problems=formats.check(frame, dataset.metadata))

    @staticmethod
    def _unavailable(dataset: Dataset, exc: Exception) -> DatasetUnavailable:
        log.error("dataset %s unavailable: %s", dataset.name, exc)
        return DatasetUnavailable(f"Dataset {dataset.name!r} is unavailable.")
