"""Datasets in files under the server's data root."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from lomas.adapters.loaders.formats import read_csv
from lomas.domain import Dataset
from lomas.errors import DatasetUnavailable, InvalidQuery

log = logging.getLogger(__name__)


def resolve_inside(root: Path, relative: str) -> Path:
    """Resolve a path under root; `..`, absolute paths and symlink escapes are refused."""
    candidate = (root / relative).resolve()
    if Path(relative).is_absolute() or not candidate.is_relative_to(root.resolve()):
        raise InvalidQuery("The dataset path must stay inside the server's data root.")
    return candidate


class LocalLoader:
    """Reads CSV files under a data root; the version is mtime and size."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, dataset: Dataset) -> Path:
        return resolve_inside(self._root, dataset.access.path)

    def version(self, dataset: Dataset) -> str:
        path = self._path(dataset)
        try:
            stat = path.stat()
        except OSError as exc:
            log.error("dataset %s: cannot stat its file: %s", dataset.name, exc)
            raise DatasetUnavailable(f"Dataset {dataset.name!r} is unavailable.") from exc
        return f"{path}:{stat.st_mtime_ns}:{stat.st_size}"

    def load(self, dataset: Dataset) -> pd.DataFrame:
        try:
            return read_csv(str(self._path(dataset)), dataset.metadata)
        except (OSError, ValueError) as exc:
            log.error("dataset %s: cannot load: %s", dataset.name, exc)
            raise DatasetUnavailable(f"Dataset {dataset.name!r} is unavailable.") from exc
