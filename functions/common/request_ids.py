"""The id of the request being served, set once by the front end (WSGI or Lambda).

API Gateway's own request id on Lambda, a fresh one behind WSGI. Views, error
bodies, the X-Request-Id header and every log line of the request read it here.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

_current: ContextVar[str | None] = ContextVar("lomas_request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id() -> str:
    """The current request's id; a fresh one outside a front end (e.g. chalice.test)."""
    return _current.get() or new_request_id()


def current_request_id() -> str | None:
    return _current.get()


def set_request_id(value: str | None) -> None:
    _current.set(value)
