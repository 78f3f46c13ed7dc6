"""The HTTP session: bearer token, timeouts, retries, error bodies -> exceptions."""

from __future__ import annotations

import uuid
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from lomas_client.errors import BY_TYPE, LomasClientError

DEFAULT_TIMEOUT = (5.0, 120.0)
"""(connect, read) seconds; a query on a large table can take a while."""


def default_session(retries: int = 3) -> requests.Session:
    """A session retrying connection failures, 429 (after its Retry-After) and
    502/503/504, POST included; never a 413.

    Retrying a query POST is safe: it carries the same Idempotency-Key, so the
    server charges it at most once.
    """
    session = requests.Session()
    retry = Retry(
        total=retries, connect=retries, read=retries, status=retries, backoff_factor=0.5,
        status_forcelist=(429, 502, 503, 504), allowed_methods=None, raise_on_status=False,
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def raise_for_error(response: requests.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
        error_type, message = body["type"], body["message"]
    except (ValueError, KeyError, TypeError):
        raise LomasClientError(
            f"HTTP {response.status_code}: {response.text[:200]}", response.status_code
        ) from None
    raise BY_TYPE.get(error_type, LomasClientError)(message, response.status_code)


class Transport:
    """Sends JSON to a Lomas server with one token."""

    def __init__(self, url: str, token: str, session: requests.Session | None = None,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.session = session or default_session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def request(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
                headers: dict[str, str] | None = None,
                params: dict[str, str] | None = None) -> Any:
        response = self.session.request(
            method, self.url + path, json=json, data=data, headers=headers, params=params,
            timeout=self.timeout,
        )
        raise_for_error(response)
        return response.json() if response.content else None

    def post(self, path: str, body: dict[str, Any], idempotent: bool = False) -> Any:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if idempotent else None
        return self.request("POST", path, json=body, headers=headers)

    def query(self, engine: str, body: dict[str, Any], dummy: bool, nb_rows: int,
              seed: int) -> Any:
        """/<engine>_query with a fresh Idempotency-Key, or /dummy_<engine>_query."""
        if dummy:
            return self.post(f"/dummy_{engine}_query",
                             body | {"dummy_nb_rows": nb_rows, "dummy_seed": seed})
        return self.post(f"/{engine}_query", body, idempotent=True)
