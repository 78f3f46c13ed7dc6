"""Files under the server's data root."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lomas.ports import SecretStore
from lomas.sources.base import SourceError
from lomas.sources.files import FileSource

if TYPE_CHECKING:
    from lomas.config import Settings
from lomas_contract.sources.local import LocalAccess


def resolve_inside(root: Path, relative: str) -> Path:
    """Resolve a path under root; `..`, absolute paths and symlink escapes are refused."""
    candidate = (root / relative).resolve()
    if Path(relative).is_absolute() or not candidate.is_relative_to(root.resolve()):
        raise SourceError("the path must stay inside the server's data root", invalid=True)
    return candidate


class LocalSource(FileSource):
    def __init__(self, root: Path, cache_dir: Path | None = None) -> None:
        super().__init__(cache_dir)
        self._root = root

    def validate(self, access: LocalAccess) -> None:
        super().validate(access)
        resolve_inside(self._root, access.path)

    def version(self, access: LocalAccess) -> str:
        path = resolve_inside(self._root, access.path)
        try:
            stat = path.stat()
        except OSError as exc:
            raise SourceError(f"cannot read {access.path}: {exc.strerror}") from exc
        return f"{path}:{stat.st_mtime_ns}:{stat.st_size}"

    def fetch(self, access: LocalAccess) -> Path:
        path = resolve_inside(self._root, access.path)
        if not path.is_file():
            raise SourceError(f"no file at {access.path}")
        return path

    def local_path(self, access: LocalAccess) -> Path:
        return self.fetch(access)


def build(settings: Settings, secrets: SecretStore) -> LocalSource:
    """Files under the data root (LOMAS_DATA_ROOT)."""
    return LocalSource(settings.resolved_data_root, settings.files_cache_dir)
