"""What every file source (local, S3, HTTP) shares: the format, reading, checking.

A file source says how to reach its file (`fetch`, `version`, `validate`); reading
the declared CSV or Parquet into a handle and comparing it with the metadata happen
here, the same for all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lomas.domain import Capability, Dataset
from lomas.sources.base import SourceError
from lomas.sources.files import formats
from lomas.sources.files.formats import FormatError
from lomas_contract.base import FileAccess
from lomas_contract.models import DatasetCheckResponse, DatasetProblem

if TYPE_CHECKING:
    import pandas as pd

    from lomas.data.handles import FrameHandle

DATA_FORMATS = ("csv", "parquet")


class FileSource:
    """A source of whole files; subclasses reach them."""

    offers = frozenset(Capability)

    def fetch(self, access: Any) -> Path | bytes:
        """The file: a local path, or its bytes. Raises SourceError."""
        raise NotImplementedError

    def validate(self, access: Any) -> None:
        """Raises SourceError(invalid=True) for an access that can never work."""
        self._format(access)

    def version(self, access: Any) -> str | None:
        raise NotImplementedError

    @staticmethod
    def _format(access: FileAccess) -> str:
        try:
            return formats.infer_format(access.location(), access.format, DATA_FORMATS)
        except FormatError as exc:
            raise SourceError(str(exc), invalid=True) from exc

    def read_bytes(self, access: Any) -> bytes:
        data = self.fetch(access)
        return data.read_bytes() if isinstance(data, Path) else data

    def read(self, dataset: Dataset, strict: bool = True) -> pd.DataFrame:
        """The table with its declared types. Raises SourceError, FormatError."""
        access = dataset.access
        assert isinstance(access, FileAccess)
        return formats.read_table(self.fetch(access), self._format(access), dataset.metadata,
                                  strict)

    def open(self, dataset: Dataset) -> FrameHandle:
        from lomas.data.handles import FrameHandle

        try:
            return FrameHandle(self.read(dataset), dataset.name)
        except FormatError as exc:
            raise SourceError(str(exc)) from exc

    def check(self, dataset: Dataset) -> DatasetCheckResponse:
        """Read once and compare with the metadata; problems as counts, never values."""
        columns = list(dataset.metadata.columns)
        try:
            frame = self.read(dataset, strict=False)
        except (SourceError, FormatError) as exc:
            problem = DatasetProblem(column=None, problem=f"cannot load: {exc}")
            return DatasetCheckResponse(dataset_name=dataset.name, rows=0, columns=columns,
                                        problems=[problem])
        return DatasetCheckResponse(dataset_name=dataset.name, rows=len(frame), columns=columns,
                                    problems=formats.check(frame, dataset.metadata))
