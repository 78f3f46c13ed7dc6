"""The one mapping from Lomas errors to HTTP status codes."""

from __future__ import annotations

import logging

from chalice import Response

from lomas import errors as e
from lomas_contract.models import ErrorResponse

log = logging.getLogger(__name__)

STATUS: dict[type[e.LomasError], int] = {
    e.InvalidQuery: 400,
    e.InvalidDocument: 400,
    e.Unauthenticated: 401,
    e.UnauthorizedAccess: 403,
    e.BudgetExhausted: 403,
    e.NotFound: 404,
    e.MethodNotAllowed: 405,
    e.Conflict: 409,
    e.PayloadTooLarge: 413,
    e.UnsupportedMediaType: 415,
    e.ExternalLibraryError: 422,
    e.RateLimited: 429,
    e.InternalServer: 500,
    e.EngineUnavailable: 501,
    e.DatasetUnavailable: 503,
    e.StoreUnavailable: 503,
    e.IdentityProviderUnavailable: 503,
}


def status_of(error: e.LomasError) -> int:
    return next((code for cls, code in STATUS.items() if isinstance(error, cls)), 500)


def json_response(body: object, status: int, request_id: str) -> Response:
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="lomas"'
    return Response(body=body, status_code=status, headers=headers)


def error_response(error: e.LomasError, request_id: str) -> Response:
    """The body every error has: {"type", "message"}, safe to show."""
    body = ErrorResponse(type=error.type, message=error.message).model_dump()
    response = json_response(body, status_of(error), request_id)
    if isinstance(error, e.RateLimited | e.StoreUnavailable):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def internal_error(request_id: str) -> Response:
    log.exception("unhandled error, request_id=%s", request_id)
    return error_response(
        e.InternalServer(f"Internal server error (request id {request_id})."), request_id
    )
