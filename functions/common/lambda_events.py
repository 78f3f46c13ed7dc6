"""API Gateway events -> the Chalice apps, through the shared Gateway (the Lambda front end).

Chalice's own Lambda handler routes on `requestContext.resourcePath`, so behind a
`/{proxy+}` catch-all it answers 405 or 500, and it cannot read an HTTP API
(payload 2.0) event. Here both payload versions become a plain request for the
Gateway, which matches the app's own route table, as the WSGI server does.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from functions.common.gateway import Gateway, Reply, build_gateway
from functions.common.jobs import BASE_PATH_HEADER
from functions.common.logs import configure_logging
from functions.common.wiring import MissingStore, build_context
from lomas.adapters.runners import JOB_EVENT_KEY
from lomas.config import Settings
from lomas.errors import StoreUnavailable, validation_details
from lomas.services import jobs
from lomas.services.context import Context
from lomas_contract.models import ErrorResponse

log = logging.getLogger("lomas.lambda")

Event = Mapping[str, Any]
Handler = Callable[[Event, Any], dict[str, Any]]
BAD_EVENT = ErrorResponse(type="InvalidQuery",
                          message="The request could not be read.").model_dump_json().encode()


def is_v2(event: Event) -> bool:
    return event.get("version") == "2.0"


def _path(event: Event) -> tuple[str, str]:
    """The path the apps route on, and the stage prefix API Gateway's URL has before it."""
    stage = (event.get("requestContext") or {}).get("stage")
    prefix = f"/{stage}" if stage and stage != "$default" else ""
    if not is_v2(event):  # a REST API passes the path without its stage
        return str(event.get("path") or "/"), prefix
    path = str(event.get("rawPath") or "/")
    # An HTTP API with a named stage puts it in rawPath; the apps' routes do not have it.
    if prefix and (path == prefix or path.startswith(f"{prefix}/")):
        return path[len(prefix):] or "/", prefix
    return path, ""


def _query(event: Event) -> str:
    if is_v2(event):
        return str(event.get("rawQueryString") or "")
    multi = event.get("multiValueQueryStringParameters")
    if multi:
        return urlencode(multi, doseq=True)
    return urlencode(event.get("queryStringParameters") or {})


def _headers(event: Event, base_path: str) -> dict[str, str]:
    headers = {k.lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if values:
            headers[key.lower()] = ", ".join(map(str, values))
    if is_v2(event) and event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    headers.pop(BASE_PATH_HEADER, None)  # only this adapter says where the API's root is
    if base_path:
        headers[BASE_PATH_HEADER] = base_path
    return headers


def _body(event: Event) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)
    return body.encode() if isinstance(body, str) else bytes(body)


def _method(event: Event) -> str:
    if is_v2(event):
        return str(event["requestContext"]["http"]["method"])
    return str(event["httpMethod"])


def _request_id(event: Event, context: Any) -> str | None:
    rid = (event.get("requestContext") or {}).get("requestId")
    return str(rid) if rid else getattr(context, "aws_request_id", None)


def to_response(reply: Reply) -> dict[str, Any]:
    """The proxy integration response; both payload versions read this shape."""
    try:
        return {"statusCode": reply.status, "headers": reply.headers,
                "body": reply.body.decode(), "isBase64Encoded": False}
    except UnicodeDecodeError:
        return {"statusCode": reply.status, "headers": reply.headers,
                "body": base64.b64encode(reply.body).decode(), "isBase64Encoded": True}


def handle_event(gateway: Gateway, event: Event, context: Any = None) -> dict[str, Any]:
    """Answer one API Gateway proxy event (REST API payload 1.0 or HTTP API 2.0)."""
    request_id = _request_id(event, context)
    try:
        method, (path, base), body = _method(event), _path(event), _body(event)
    except (KeyError, TypeError, ValueError, binascii.Error):
        log.warning("unreadable API Gateway event, request_id=%s", request_id)
        return to_response(Reply(400, {"Content-Type": "application/json",
                                        "X-Request-Id": request_id or ""}, BAD_EVENT))
    query = _query(event)
    reply = gateway.handle(method, f"{path}?{query}" if query else path,
                           _headers(event, base), body, request_id)
    return to_response(reply)


def run_job_event(ctx: Context, event: Event) -> dict[str, Any]:
    """An asynchronous invocation {"lomas_job": uid} (see LambdaRunner): run that job."""
    uid = event.get(JOB_EVENT_KEY)
    if not isinstance(uid, str) or not uid:
        log.warning("job event without a uid")
        return {"uid": None, "status": None}
    job = jobs.run(ctx, uid) or ctx.store.get_job(uid)  # as recorded, or as it stands
    return {"uid": uid, "status": job.status if job else None}


def lambda_handler(*apps: str) -> Handler:
    """Build the function once (cold start) and return its Lambda handler.

    Exits with one log line when the settings are invalid, there is no MongoDB URL (the
    embedded store is for local runs only) or the store cannot be reached; Lambda
    retries the cold start.
    """
    try:
        settings = Settings()
    except ValidationError as exc:  # e.g. an OIDC issuer without its audience
        configure_logging("INFO")
        log.critical("invalid settings: %s", validation_details(exc, whole="settings"))
        raise SystemExit(1) from None
    configure_logging(settings.log_level)
    try:
        ctx = build_context(settings)
    except (MissingStore, StoreUnavailable) as exc:
        log.critical("%s", exc)
        raise SystemExit(1) from None
    gateway = build_gateway(ctx, *apps)

    def handler(event: Event, context: Any) -> dict[str, Any]:
        if JOB_EVENT_KEY in event:
            return run_job_event(ctx, event)
        return handle_event(gateway, event, context)

    return handler
