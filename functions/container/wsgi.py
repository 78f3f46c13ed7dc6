"""WSGI -> API Gateway proxy event -> Chalice app, through Chalice's own gateway.

Routes under /admin go to the admin function, the rest to the query function,
as API Gateway would route them to two Lambda functions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
ADMIN_PREFIX = "/admin"


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class ChaliceWsgi:
    """A WSGI application serving the query and admin Chalice apps."""

    def __init__(self, query: Chalice, admin: Chalice, max_body_bytes: int) -> None:
        config = Config.create(lambda_timeout=900, lambda_memory_size=1024)
        self._query = LocalGateway(query, config)
        self._admin = LocalGateway(admin, config)
        self._max_body = max_body_bytes

    def _gateway(self, path: str) -> LocalGateway:
        admin = path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
        return self._admin if admin else self._query

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        # One byte over the limit is enough for the app to answer 413.
        body = environ["wsgi.input"].read(min(length, self._max_body + 1)) if length else b""
        try:
            response = self._gateway(path).handle_request(method, path, headers, body)
        except LocalGatewayException as exc:  # no such route
            log.info("no route for %s %s (%s)", method, path, exc.CODE)
            body = json.dumps({"type": "NotFound", "message": "No such route."}).encode()
            return self._reply(start_response, 404, {"Content-Type": "application/json"}, body)
        payload = response.get("body") or b""
        if isinstance(payload, str):
            payload = payload.encode()
        return self._reply(start_response, response["statusCode"], response.get("headers", {}),
                           payload)

    @staticmethod
    def _reply(start: StartResponse, status: int, headers: dict[str, str],
               body: bytes) -> list[bytes]:
        pairs = [(k, str(v)) for k, v in headers.items() if k.lower() != "content-length"]
        pairs.append(("Content-Length", str(len(body))))
        start(f"{status} {_reason(status)}", pairs)
        return [body]
