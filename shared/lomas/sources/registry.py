"""Every source kind behind one face: picked by the access's `type`, errors mapped once.

The kinds are the contract's (`lomas_contract.sources.ACCESS`); `lomas.sources.<kind>`
builds each from the settings (`build`). Researchers get a generic
DatasetUnavailable; the cause (location, HTTP status, S3 error code, never a
credential or a value) goes to the log and, for `check`, to the administrator.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import TYPE_CHECKING, cast

from pydantic import ValidationError

from lomas.domain import Capability, Dataset, DatasetAccess
from lomas.errors import (
    DatasetUnavailable,
    InvalidDocument,
    InvalidQuery,
    InvalidRequest,
    validation_details,
)
from lomas.ports import Handle, SecretStore, Source
from lomas.sources.base import SourceError, unloadable
from lomas.sources.files import formats
from lomas.sources.files.formats import FormatError
from lomas_contract.base import FileAccess
from lomas_contract.models import DatasetCheckResponse, DatasetMetadata
from lomas_contract.sources import ACCESS

if TYPE_CHECKING:
    from lomas.config import Settings

log = logging.getLogger(__name__)

METADATA_FORMATS = ("yaml", "json")


class Sources:
    """kind -> its Source."""

    def __init__(self, sources: dict[str, Source]) -> None:
        if unknown := set(sources) - set(ACCESS):
            raise ValueError(f"no access model for source kinds {sorted(unknown)}")
        self._sources = sources

    @classmethod
    def from_settings(cls, settings: Settings, secrets: SecretStore) -> Sources:
        """Every kind of the registry, each built by its folder's `build`."""
        return cls({kind: cast(Source, import_module(f"lomas.sources.{kind}").build(
            settings, secrets)) for kind in ACCESS})

    def _source(self, access: DatasetAccess,
                error: type[InvalidRequest] = InvalidQuery) -> Source:
        try:
            return self._sources[access.type]
        except KeyError:
            raise error(f"This server serves no {access.type!r} datasets.") from None

    def offers(self, access: DatasetAccess) -> frozenset[Capability]:
        return self._source(access).offers

    def pushes_down(self, access: DatasetAccess) -> bool:
        """Whether queries run in the data's own database or cluster (its rows never come
        into this process: it offers no ROWS)."""
        return Capability.ROWS not in self.offers(access)

    def validate_access(self, access: DatasetAccess) -> None:
        """Raises InvalidDocument for a data source that can never work (path, secret,
        format)."""
        try:
            self._source(access, InvalidDocument).validate(access)
        except SourceError as exc:
            raise InvalidDocument(f"Invalid dataset access: {exc}") from exc

    def load_metadata(self, access: DatasetAccess) -> DatasetMetadata:
        """Read a YAML/JSON metadata file. Raises InvalidDocument (for the admin)."""
        if not isinstance(access, FileAccess):
            raise InvalidDocument(f"Metadata is read from a file (local, s3 or http), not from "
                               f"a {access.type!r} source: give it inline or as a file.")
        try:
            fmt = formats.infer_format(access.location(), access.format, METADATA_FORMATS)
            source = self._source(access, InvalidDocument)
            return formats.read_metadata(source.read_bytes(access), fmt)
        except (SourceError, FormatError) as exc:
            raise InvalidDocument(f"The metadata cannot be read: {exc}") from exc
        except ValidationError as exc:
            raise InvalidDocument("The metadata is not valid: "
                                  + validation_details(exc, "metadata")) from exc
        except ValueError as exc:
            raise InvalidDocument(f"The metadata is not valid: {exc}") from exc

    def version(self, dataset: Dataset) -> str | None:
        try:
            return self._source(dataset.access).version(dataset.access)
        except SourceError as exc:
            raise self._unavailable(dataset, exc) from exc

    def open(self, dataset: Dataset) -> Handle:
        try:
            return self._source(dataset.access).open(dataset)
        except SourceError as exc:
            raise self._unavailable(dataset, exc) from exc

    def check(self, dataset: Dataset) -> DatasetCheckResponse:
        """Compare the data with its metadata; problems as counts, never values."""
        try:
            return self._source(dataset.access).check(dataset)
        except SourceError as exc:
            return unloadable(dataset, exc)

    @staticmethod
    def _unavailable(dataset: Dataset, exc: Exception) -> DatasetUnavailable:
        log.error("dataset %s unavailable: %s", dataset.name, exc)
        return DatasetUnavailable(f"Dataset {dataset.name!r} is unavailable.")
