"""What every file source (local, S3, HTTP) shares: the format, opening, checking.

A file source says how to reach its file (`local_path`, `arrow_dataset`, `download`,
`version`, `validate`). Opening scans Parquet where it lies: a local file in place, an
S3 object through a pyarrow dataset, anything else downloaded once into the
instance's cache; a CSV is made into a typed Parquet file there once per version. The
data is checked against its metadata in one aggregate pass and refused if a value does
not fit; nothing is read whole into memory.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from lomas.data.scan import ScanHandle
from lomas.domain import Capability, Dataset
from lomas.errors import first_line
from lomas.sources.base import SourceError, report, unloadable
from lomas.sources.files import formats
from lomas.sources.files.formats import FormatError
from lomas_contract.base import FileAccess
from lomas_contract.models import DatasetCheckResponse

DATA_FORMATS = ("csv", "parquet")


class FileSource:
    """A source of whole files; subclasses reach them."""

    offers = frozenset(Capability)

    def __init__(self, cache_dir: Path | None = None) -> None:
        self._cache_root = cache_dir
        self._cache_dir: Path | None = None

    def fetch(self, access: Any) -> Path | bytes:
        """The (small) file: a local path, or its bytes. Raises SourceError."""
        raise NotImplementedError

    def local_path(self, access: Any) -> Path | None:
        """The file on this machine's disk, to scan in place; None if it is elsewhere."""
        return None

    def arrow_dataset(self, access: Any) -> Any:
        """A pyarrow dataset reading the Parquet file where it is; None if there is none."""
        return None

    def download(self, access: Any, target: Path) -> None:
        """Copy the file to `target` (streamed: memory stays bounded). Raises SourceError."""
        target.write_bytes(self.read_bytes(access))

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

    def _new_file(self, suffix: str) -> Path:
        """A fresh path in this source's own cache folder (removed when the process ends)."""
        if self._cache_dir is None:
            root = self._cache_root or Path(tempfile.gettempdir())
            root.mkdir(parents=True, exist_ok=True)
            self._cache_dir = Path(tempfile.mkdtemp(prefix="lomas-files-", dir=root))
            atexit.register(shutil.rmtree, self._cache_dir, ignore_errors=True)
        return self._cache_dir / f"{uuid.uuid4().hex}{suffix}"

    def _scan(self, dataset: Dataset) -> ScanHandle:
        """The dataset's file as a scan, before any check. Raises SourceError, FormatError."""
        access = dataset.access
        assert isinstance(access, FileAccess)
        name, metadata = dataset.name, dataset.metadata
        if self._format(access) == "parquet":
            if (path := self.local_path(access)) is not None:
                return _open_scan(name, metadata, path=path)
            if (arrow := self.arrow_dataset(access)) is not None:
                return _open_scan(name, metadata, dataset=arrow)
            target = self._new_file(".parquet")
            _download(self, access, target)
            return _open_scan(name, metadata, path=target, owned=True)
        from lomas.sources.files.convert import csv_to_parquet

        source = self.local_path(access)
        copy = None
        if source is None:
            source = copy = self._new_file(".csv")
            _download(self, access, copy)
        target = self._new_file(".parquet")
        try:
            csv_to_parquet(source, target, metadata)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        finally:
            if copy is not None:
                copy.unlink(missing_ok=True)
        return _open_scan(name, metadata, path=target, owned=True)

    def open(self, dataset: Dataset) -> ScanHandle:
        """The scan, once its data fits the metadata. Raises SourceError."""
        import duckdb

        try:
            handle = self._scan(dataset)
        except FormatError as exc:
            raise SourceError(str(exc)) from exc
        try:
            refused = handle.refusals()
            if not refused:
                return handle.serve()
        except (duckdb.Error, OSError) as exc:
            handle.close()
            raise SourceError(f"the Parquet file cannot be read: {first_line(exc)}") from exc
        handle.close()
        raise SourceError("; ".join(f"{p.column}: {p.problem}" for p in refused))

    def check(self, dataset: Dataset) -> DatasetCheckResponse:
        """Compare with the metadata in one aggregate pass; counts, never values."""
        try:
            handle = self._scan(dataset)
        except (SourceError, FormatError) as exc:
            return unloadable(dataset, exc)
        try:
            return report(dataset, *handle.problems())
        finally:
            handle.close()


def _download(source: FileSource, access: Any, target: Path) -> None:
    """The file into `target`; a partial copy is removed if the download fails."""
    try:
        source.download(access, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _open_scan(name: str, metadata: Any, **where: Any) -> ScanHandle:
    """A ScanHandle; a file DuckDB cannot read as Parquet is a FormatError."""
    import duckdb

    try:
        return ScanHandle(name, metadata, **where)
    except (duckdb.Error, OSError) as exc:
        if where.get("owned"):
            where["path"].unlink(missing_ok=True)
        raise FormatError(f"the Parquet file cannot be read: {first_line(exc)}") from exc
