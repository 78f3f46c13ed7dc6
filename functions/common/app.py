"""The Chalice app both functions use: thread-safe, and every error in one shape."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response

from functions.common.errors import error_response
from functions.common.request_ids import request_id
from lomas import errors

# Errors Chalice answers itself, before any view runs.
CHALICE_ERRORS: dict[str, type[errors.LomasError]] = {
    "MethodNotAllowedError": errors.MethodNotAllowed,
    "UnsupportedMediaType": errors.UnsupportedMediaType,
    "BadRequestError": errors.InvalidQuery,
}


def uniform_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Rewrite Chalice's own {"Code", "Message"} error bodies as {"type", "message"}."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        error = CHALICE_ERRORS.get(body["Code"])
        if error is None:
            return error_response(errors.InternalServer("Internal server error."),
                                  request_id())
        fixed = error_response(error(str(body.get("Message", ""))), request_id())
        fixed.headers.update({k: v for k, v in response.headers.items() if k == "Allow"})
        return fixed
    return response


class LomasChalice(Chalice):
    """Keeps current_request per thread (Chalice stores it on the app object)."""

    _local = threading.local()

    def __init__(self, app_name: str) -> None:
        super().__init__(app_name=app_name)
        self.register_middleware(uniform_errors, "http")

    @property  # type: ignore[override]
    def current_request(self) -> Any:
        return getattr(self._local, f"req_{id(self)}", None)

    @current_request.setter
    def current_request(self, value: Any) -> None:
        setattr(self._local, f"req_{id(self)}", value)
