"""HTTP side of background queries: `Prefer: respond-async` (RFC 7240) and job answers."""

from __future__ import annotations

import math

from chalice import Response

from functions.common.api import Call
from functions.common.errors import json_response, status_of
from functions.common.request_ids import request_id
from lomas.domain import Job
from lomas.errors import InvalidQuery, rebuild
from lomas_contract import models as m

BASE_PATH_HEADER = "x-lomas-base-path"
"""Set by the Lambda adapter when API Gateway's stage was stripped from the path (a
client's own value is dropped), so that Location points under the stage."""


def seconds(text: str, what: str) -> float:
    """A wait in seconds, from a header or a query parameter. Raises InvalidQuery."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidQuery(f"{what} must be a number of seconds, 0 or more.")
    return value


def preferences(call: Call) -> tuple[bool, float]:
    """(respond-async asked, wait seconds) from the Prefer header(s)."""
    asynchronous, wait = False, 0.0
    for item in (call.header("Prefer") or "").split(","):
        name, _, value = item.split(";")[0].strip().partition("=")
        name = name.strip().lower()
        if name == "respond-async":
            asynchronous = True
        elif name == "wait" and value:
            wait = seconds(value.strip().strip('"'), "Prefer: wait")
    return asynchronous, wait


def outcome(call: Call, job: Job) -> Response:
    """A finished job's answer, as the query itself would have answered; its
    Content-Location is the job. Raises the job's error."""
    if job.status == "complete" and job.result is not None:
        response = json_response(job.result, 200, request_id())
        response.headers["Content-Location"] = _status_path(call, job)
        return response
    raise rebuild(job.error or {})


def _status_path(call: Call, job: Job) -> str:
    base = (call.header(BASE_PATH_HEADER) or "").rstrip("/")
    return f"{base}/status/{job.uid}"


def accepted(call: Call, job: Job) -> Response:
    response = json_response(m.JobSubmitted(uid=job.uid).model_dump(), 202, request_id())
    response.headers.update({"Location": _status_path(call, job),
                             "Preference-Applied": "respond-async"})
    return response


def job_response(job: Job) -> m.JobResponse:
    code = None
    if job.status == "complete":
        code = 200
    elif job.status == "failed":
        code = status_of(rebuild(job.error or {}))
    return m.JobResponse(
        uid=job.uid, requested_by=job.user, status=job.status,  # type: ignore[arg-type]
        result=m.QueryResponse.model_validate(job.result) if job.result else None,
        error=m.ErrorResponse.model_validate(job.error) if job.error else None,
        status_code=code)
