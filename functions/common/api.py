"""The decorator every view wears: parse, authenticate, call, serialise, map errors.

Chalice turns an exception raised in a view into its own 500 before any
middleware sees it, so this sits directly under @bp.route.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from functions.common import request_ids
from functions.common.errors import error_response, internal_error, json_response
from lomas.domain import User
from lomas.errors import (
    InvalidDocument,
    InvalidQuery,
    InvalidRequest,
    LomasError,
    PayloadTooLarge,
    validation_details,
)
from lomas.services.access import authenticate, require_admin
from lomas.services.context import Context
from lomas_contract.routes import JSON, Route

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One authenticated request, as the views see it."""

    ctx: Context
    user: User
    request: Request

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name)
        return value.strip() if value else None

    def idempotency_key(self) -> str | None:
        """The Idempotency-Key header. Raises InvalidQuery if it is malformed."""
        key = self.header("Idempotency-Key")
        if key is not None and not (1 <= len(key) <= 200 and key.isprintable()):
            raise InvalidQuery("The Idempotency-Key header must be 1 to 200 printable characters.")
        return key

    def query_param(self, name: str) -> str | None:
        return (self.request.query_params or {}).get(name)


def bearer(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def validation_message(exc: ValidationError) -> str:
    return "Invalid request: " + validation_details(exc)


def parse_body[M: BaseModel](request: Request, model: type[M],
                             error: type[InvalidRequest] = InvalidQuery) -> M:
    """The body as `model`; `error`: what a body that is not one raises (an admin's:
    InvalidDocument)."""
    raw = request.raw_body or b""
    try:
        return model.model_validate(json.loads(raw or b"null"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error("The request body is not valid JSON.") from exc
    except ValidationError as exc:
        raise error(validation_message(exc)) from exc


def serialise(result: Any) -> Any:
    return result.model_dump(mode="json") if isinstance(result, BaseModel) else result


def endpoint(
    bp: Blueprint,
    deps: Callable[[], Context],
    body: type[BaseModel] | None = None,
    *,
    admin: bool = False,
    status: int = 200,
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Wrap a view ``fn(call, [body], **path_params)`` with the request pipeline."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(fn)
        def view(**path: str) -> Response:
            request_id = request_ids.request_id()
            try:
                request = bp.current_request
                ctx = deps()
                size = len(request.raw_body or b"")
                if size > ctx.settings.max_body_bytes:
                    raise PayloadTooLarge(
                        f"The request body is over {ctx.settings.max_body_bytes} bytes.")
                user = authenticate(ctx.store, bearer(request), ctx.oidc, ctx.tokens)
                if admin:
                    require_admin(user)
                bad = InvalidDocument if admin else InvalidQuery
                args = [parse_body(request, body, bad)] if body else []
                result = fn(Call(ctx, user, request), *args, **path)
                if result is None:
                    return Response(body="", status_code=204, headers={"X-Request-Id": request_id})
                if isinstance(result, Response):  # a view's own status and headers
                    result.headers["X-Request-Id"] = request_id
                    return result
                return json_response(serialise(result), status, request_id)
            except LomasError as exc:
                log.info("request_id=%s %s: %s", request_id, exc.type, exc.message)
                return error_response(exc, request_id)
            except Exception:  # noqa: BLE001 - logged with traceback, answered generically
                return internal_error(request_id)

        return view

    return decorate


@dataclass(frozen=True)
class Page:
    """An HTML answer of our own making: no script, no resource from elsewhere."""

    html: str


PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def public(fn: Callable[..., Any]) -> Callable[..., Response]:
    """A view with no authentication (health, the API's document and pages, the
    dashboard's files)."""

    @functools.wraps(fn)
    def view(**path: str) -> Response:
        request_id = request_ids.request_id()
        try:
            result = fn(**path)
            if isinstance(result, Response):  # a view's own status and headers
                result.headers["X-Request-Id"] = request_id
                return result
            if isinstance(result, Page):
                return Response(body=result.html, status_code=200,
                                headers={**PAGE_HEADERS, "X-Request-Id": request_id})
            return json_response(serialise(result), 200, request_id)
        except LomasError as exc:
            return error_response(exc, request_id)
        except Exception:  # noqa: BLE001
            return internal_error(request_id)

    return view


def expose(bp: Blueprint, deps: Callable[[], Context],
           route: Route) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Register a view for one route of the route table, with the request pipeline."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Response]:
        if route.access == "public":
            view = public(fn)
        else:
            body = route.body if route.parse_json else None
            view = endpoint(bp, deps, body, admin=route.access == "admin",
                            status=route.status)(fn)
        view.__name__ = view.__qualname__ = route.name
        options: dict[str, Any] = {"methods": [route.method]}
        if route.content_types != (JSON,):
            options["content_types"] = list(route.content_types)
        bp.route(route.path, **options)(view)
        return view

    return decorate
