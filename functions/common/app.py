"""A Chalice app safe to serve from several threads in one process."""

from __future__ import annotations

import threading
from typing import Any

from chalice import Chalice


class LomasChalice(Chalice):
    """Keeps current_request per thread: Chalice stores it on the app object."""

    _local = threading.local()

    @property  # type: ignore[override]
    def current_request(self) -> Any:
        return getattr(self._local, f"req_{id(self)}", None)

    @current_request.setter
    def current_request(self, value: Any) -> None:
        setattr(self._local, f"req_{id(self)}", value)
