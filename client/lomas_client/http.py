"""The HTTP session: bearer token, timeouts, retries, error bodies -> exceptions."""

from __future__ import annotations

import uuid
from typing import Any

import requests
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from lomas_client.errors import BY_STATUS, BY_TYPE, LomasClientError, ServerUnreachableError
from lomas_client.jobs import DEFAULT_JOB_TIMEOUT, POLL_SECONDS, Job
from lomas_contract import models as m
from lomas_contract.routes import ENGINES, Route

DEFAULT_TIMEOUT = (5.0, 120.0)
"""(connect, read) seconds; a query on a large table can take a while."""


class _Retry(Retry):
    """A 503 is retried only with a Retry-After (Lomas sends one when its store is away
    for a moment, none for a dataset whose source is broken, which a retry would not
    mend); a 413 never."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})


def default_session(retries: int = 3) -> requests.Session:
    """A session retrying connection failures, 429, 502 and 504, and a 503 that says
    when (Retry-After, which it waits), POST included; never a 413.

    Retrying a query POST is safe: it carries the same Idempotency-Key, so the
    server charges it at most once.
    """
    session = requests.Session()
    retry = _Retry(
        total=retries, connect=retries, read=retries, status=retries, backoff_factor=0.5,
        status_forcelist=(429, 502, 504), allowed_methods=None, raise_on_status=False,
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
        error = m.ErrorResponse.model_validate(response.json())
    except (ValueError, ValidationError):
        error_class = BY_STATUS.get(response.status_code, LomasClientError)
        raise error_class(f"HTTP {response.status_code}: {response.text[:200]}",
                          response.status_code) from None
    raise BY_TYPE.get(error.type, LomasClientError)(error.message, response.status_code)


def wire_body(model: type[BaseModel], **fields: Any) -> dict[str, Any]:
    """A request body shaped by its wire model: its field names (another name is a
    TypeError here, not a request) and defaults. The server validates the values: a
    bad value is its 400 InvalidQuery (InvalidDocument on an admin route), the same
    whichever client sent it."""
    if unknown := set(fields) - set(model.model_fields):
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    body = {name: fields[name] if name in fields else info.get_default(
                call_default_factory=True)
            for name, info in model.model_fields.items()
            if name in fields or not info.is_required()}
    return to_jsonable_python(body)


def route_body(route: Route, **fields: Any) -> dict[str, Any]:
    """The body of a route of the route table, shaped by its own wire model."""
    if route.body is None:
        raise TypeError(f"{route.name} takes no body")
    return wire_body(route.body, **fields)


class Transport:
    """Sends JSON to a Lomas server with one token."""

    def __init__(self, url: str, token: str | None, session: requests.Session | None = None,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, *, progress: bool = True,
                 job_timeout: float | None = DEFAULT_JOB_TIMEOUT,
                 auth: requests.auth.AuthBase | None = None) -> None:
        """`token`: an API token; or `auth`: what sets the Authorization header of each
        request (an `OidcLogin`, which refreshes its tokens)."""
        if (token is None) == (auth is None):
            raise TypeError("give either token= (an API token) or auth= (an OidcLogin)")
        self.url = url.rstrip("/")
        self.session = session or default_session()
        if auth is not None:
            self.session.auth = auth
        else:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.progress = progress
        self.job_timeout = job_timeout

    def job(self, uid: str, answer: m.JobResponse | None = None) -> Job:
        return Job(self, uid, self.progress, answer)

    def run(self, engine: str, fields: dict[str, Any], dummy: bool, nb_rows: int,
            seed: int, *, wait: bool) -> Any:
        """A query as a job: its handle (wait=False), or its released result once it has
        finished (wait=True: at most job_timeout seconds)."""
        answer = self.submit(engine, fields, dummy, nb_rows, seed,
                             wait=POLL_SECONDS if wait else 0)
        job = self.job(answer.uid, answer)
        return job.result(timeout=self.job_timeout) if wait else job

    def send(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
             headers: dict[str, str] | None = None,
             params: dict[str, str] | None = None) -> requests.Response:
        """The answer, once it is not an error. Raises the LomasClientError of an error,
        ServerUnreachableError when no answer came."""
        try:
            response = self.session.request(
                method, self.url + path, json=json, data=data, headers=headers,
                params=params, timeout=self.timeout,
            )
        except requests.ReadTimeout:
            raise ServerUnreachableError(
                f"The Lomas server at {self.url} did not answer within {self.timeout[1]:g} "
                "s; try again (a query is charged once), or pass a longer timeout=.") from None
        except requests.ConnectionError:
            raise ServerUnreachableError(
                f"Cannot reach the Lomas server at {self.url}: is it running, and are the "
                "host and port right?") from None
        raise_for_error(response)
        return response

    def request(self, method: str, path: str, **options: Any) -> Any:
        response = self.send(method, path, **options)
        return response.json() if response.content else None

    def call(self, route: Route, body: dict[str, Any] | None = None, *,
             params: dict[str, str] | None = None, data: bytes | None = None,
             headers: dict[str, str] | None = None, **path: str) -> Any:
        """One route of the route table; path parameters by name."""
        return self.request(route.method, route.url(**path), json=body, data=data,
                            headers=headers, params=params)

    def submit(self, engine: str, fields: dict[str, Any], dummy: bool, nb_rows: int,
               seed: int, wait: float = 0) -> m.JobResponse:
        """/<engine>_query or /dummy_<engine>_query as a job (Prefer: respond-async) with a
        fresh Idempotency-Key, so a retried submit is the same job, charged once.

        The answer is the job: finished if it ended within `wait` seconds. A request the
        server refuses at once (bad query, no budget) raises its error here.
        """
        routes = ENGINES[engine]
        route = routes.dummy if dummy else routes.query
        extra = {"dummy_nb_rows": nb_rows, "dummy_seed": seed} if dummy else {}
        prefer = "respond-async" + (f", wait={wait:g}" if wait > 0 else "")
        response = self.send(route.method, route.url(), json=route_body(route, **fields, **extra),
                             headers={"Idempotency-Key": str(uuid.uuid4()), "Prefer": prefer})
        if response.status_code == 202:
            uid = m.JobSubmitted.model_validate(response.json()).uid
            return m.JobResponse(uid=uid, requested_by="", status="in_progress")
        answer = m.QueryResponse.model_validate(response.json())
        uid = response.headers.get("Content-Location", "").rsplit("/", 1)[-1]
        return m.JobResponse(uid=uid, requested_by=answer.requested_by, status="complete",
                             result=answer, status_code=response.status_code)
