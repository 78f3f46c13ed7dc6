"""WSGI -> the Chalice apps, through the shared Gateway (the container's front end)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from functions.common.gateway import Gateway, Reply
from functions.common.jobs import BASE_PATH_HEADER

StartResponse = Callable[..., Any]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class ChaliceWsgi:
    """A WSGI application serving the query and admin Chalice apps."""

    def __init__(self, gateway: Gateway, max_body_bytes: int) -> None:
        self._gateway = gateway
        self._max_body = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
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
        headers.pop(BASE_PATH_HEADER, None)  # the container serves at its root
        length = int(environ.get("CONTENT_LENGTH") or 0)
        # One byte over the limit is enough for the app to answer 413.
        body = environ["wsgi.input"].read(min(length, self._max_body + 1)) if length else b""
        reply = self._gateway.handle(environ["REQUEST_METHOD"], path, headers, body)
        return self._reply(start_response, reply)

    @staticmethod
    def _reply(start: StartResponse, reply: Reply) -> list[bytes]:
        pairs = [(k, v) for k, v in reply.headers.items() if k.lower() != "content-length"]
        pairs.append(("Content-Length", str(len(reply.body))))
        start(f"{reply.status} {_reason(reply.status)}", pairs)
        return [reply.body]
