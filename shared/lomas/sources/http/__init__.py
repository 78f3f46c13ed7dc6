"""Files on an HTTP(S) server: timeouts, a size limit, few redirects."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lomas.ports import SecretStore
from lomas.sources.base import SourceError
from lomas.sources.files import FileSource

if TYPE_CHECKING:
    from lomas.config import Settings
from lomas.sources.secrets import SecretNotFound
from lomas_contract.sources.http import HttpAccess

CHUNK = 1 << 20


class HttpSource(FileSource):
    def __init__(self, secrets: SecretStore, *, connect_timeout: float = 5.0,
                 read_timeout: float = 60.0, max_bytes: int = 1 << 30,
                 max_redirects: int = 3, cache_dir: Path | None = None) -> None:
        super().__init__(cache_dir)
        self._secrets = secrets
        self._timeout = (connect_timeout, read_timeout)
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects

    def _headers(self, access: HttpAccess) -> dict[str, str]:
        if access.headers_name is None:
            return {}
        try:
            return self._secrets.get(access.headers_name)
        except SecretNotFound as exc:
            raise SourceError(f"unknown headers name {access.headers_name!r}",
                              invalid=True) from exc

    def validate(self, access: HttpAccess) -> None:
        super().validate(access)
        self._headers(access)

    def _request(self, method: str, access: HttpAccess, stream: bool = False) -> Any:
        import requests  # with the first HTTP dataset: a function starts without it

        where = access.location()
        session = requests.Session()
        session.max_redirects = self._max_redirects
        try:
            response = session.request(method, access.url, headers=self._headers(access),
                                       timeout=self._timeout, stream=stream)
        except requests.Timeout as exc:
            raise SourceError(f"timed out reading {where}") from exc
        except requests.TooManyRedirects as exc:
            raise SourceError(f"too many redirects from {where}") from exc
        except requests.RequestException as exc:
            raise SourceError(f"cannot reach {where}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            response.close()
            raise SourceError(f"HTTP {response.status_code} from {where}")
        return response

    def version(self, access: HttpAccess) -> str | None:
        """ETag or Last-Modified (with the length); None if the server gives neither."""
        headers = self._request("HEAD", access).headers
        tag = headers.get("ETag") or headers.get("Last-Modified")
        return f"{tag}:{headers.get('Content-Length')}" if tag else None

    def _stream(self, access: HttpAccess, sink: BinaryIO) -> None:
        """The body into `sink`, chunk by chunk, up to max_bytes. Raises SourceError."""
        import requests

        response = self._request("GET", access, stream=True)
        with response:
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > self._max_bytes:
                raise SourceError(f"{access.location()} is over {self._max_bytes} bytes")
            size = 0
            try:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise SourceError(f"{access.location()} is over {self._max_bytes} bytes")
                    sink.write(chunk)
            except requests.RequestException as exc:
                raise SourceError(f"reading {access.location()} failed: "
                                  f"{type(exc).__name__}") from exc

    def fetch(self, access: HttpAccess) -> bytes:
        buffer = io.BytesIO()
        self._stream(access, buffer)
        return buffer.getvalue()

    def download(self, access: HttpAccess, target: Path) -> None:
        with target.open("wb") as out:
            self._stream(access, out)


def build(settings: Settings, secrets: SecretStore) -> HttpSource:
    return HttpSource(secrets, connect_timeout=settings.source_connect_timeout,
                      read_timeout=settings.source_read_timeout,
                      max_bytes=settings.http_max_bytes, max_redirects=settings.http_max_redirects,
                      cache_dir=settings.files_cache_dir)
