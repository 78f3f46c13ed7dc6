"""A requests transport adapter that sends requests into a WSGI app in-process."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class WsgiAdapter(BaseAdapter):
    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        environ = {
            "REQUEST_METHOD": request.method,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "SERVER_NAME": url.hostname or "testserver",
            "SERVER_PORT": str(url.port or 80),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": url.scheme,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                environ["HTTP_" + key] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            captured["status"], captured["headers"] = status, headers

        payload = b"".join(self.app(environ, start_response))
        response = requests.Response()
        response.status_code = int(captured["status"].split()[0])
        response.headers = CaseInsensitiveDict(dict(captured["headers"]))
        response._content = payload
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        return None


def session_for(app: Any) -> requests.Session:
    session = requests.Session()
    session.mount("http://", WsgiAdapter(app))
    return session
