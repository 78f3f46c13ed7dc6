"""The OpenAPI 3.1 document, generated from the route table and the wire models.

Served at GET /openapi.json and kept in docs/openapi.json (`make openapi` writes it;
a test fails when the two differ). Nothing here is written by hand per route.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.common.errors import STATUS
from lomas_contract import models as m
from lomas_contract import routes as r

REF = "#/components/schemas/{model}"
REASONS = {
    400: "Invalid request: bad JSON, fields, SQL or pipeline; nothing is charged.",
    401: "Missing, unknown, expired or otherwise invalid token (API token or OIDC JWT), "
         "or a JWT for a user Lomas does not know.",
    403: "No grant on the dataset (or unknown dataset), user disabled, not an admin, "
         "or the remaining budget does not cover the cost.",
    404: "Unknown user, dataset or grant; a job that is not yours.",
    409: "Name taken, grant below spent, or Idempotency-Key reused or still running.",
    413: "Request body over the server's limit.",
    415: "Unsupported Content-Type.",
    422: "The DP library failed on the private data after the charge.",
    429: "Too many queries: nothing was run or charged; retry after Retry-After seconds.",
    500: "Unexpected error; the message carries the request id.",
    503: "The state store, the dataset's source or the identity provider is unavailable; "
         "a query is refunded.",
}
AUTHENTICATED = (400, 401, 403, 413, 500, 503)


def _models() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {"ErrorResponse": m.ErrorResponse,
                                        "JobSubmitted": m.JobSubmitted}
    for route in (*r.QUERY_APP, *r.ADMIN_APP):
        for model in (route.body, route.answer):
            if model is not None:
                seen[model.__name__] = model
    return list(seen.values())


ADMIN_ONLY = {"InvalidDocument"}
"""Error types only admin routes raise."""
ADMIN_REASONS = {
    400: "Invalid request: bad JSON or fields, or an import document, a dataset's metadata "
         "or access that is not valid (InvalidDocument); nothing is written.",
}


def _error_types(status: int, admin: bool) -> list[str]:
    return sorted(cls.__name__ for cls, code in STATUS.items()
                  if code == status and (admin or cls.__name__ not in ADMIN_ONLY))


def _statuses(route: r.Route) -> list[int]:
    if route.access == "public":
        return sorted({*route.errors, *([503] if route.answer is not None else [])})
    codes = set(AUTHENTICATED) | set(route.errors)
    if route.body is not None:
        codes.add(415)
    return sorted(codes)


def _operation(route: r.Route, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.name, "summary": route.summary,
                          "tags": ["admin" if route.access == "admin" else "researcher"]}
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
              for p in route.path_params]
    params += [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
               for q in route.query]
    if route.name.endswith("_query") and not route.name.startswith("dummy_"):
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "description": "Retries with the same key are charged once.",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 200}})
    if route.jobs:
        params.append({"name": "Prefer", "in": "header", "required": False,
                       "description": "`respond-async` makes the query a job: 202 and its "
                       "uid, or its answer if it ends within `wait=N` seconds (at most 20). "
                       "Read it at /status/{uid}.",
                       "schema": {"type": "string", "examples": ["respond-async, wait=10"]}})
    if params:
        op["parameters"] = params
    if route.body is not None:
        schema = refs[(route.body, "validation")]
        op["requestBody"] = {"required": True, "content": {
            t: {"schema": schema} for t in route.content_types}}
    if route.access == "public":
        op["security"] = []
    answer: dict[str, Any] = {"description": "OK"}
    if route.status != 204:
        if route.produces != r.JSON:
            answer["content"] = {route.produces: {"schema": {"type": "string"}}}
        else:
            schema = (refs[(route.answer, "serialization")] if route.answer
                      else {"type": "object"})
            answer["content"] = {"application/json": {"schema": schema}}
    responses = {str(route.status): answer}
    if route.jobs:
        responses["202"] = {
            "description": "Accepted as a job (Prefer: respond-async); read it at Location.",
            "headers": {"Location": {"required": True, "description": "/status/{uid}",
                                     "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": refs[(m.JobSubmitted,
                                                              "serialization")]}}}
    error = refs[(m.ErrorResponse, "serialization")]
    admin = route.access == "admin"
    for status in _statuses(route):
        reason = ADMIN_REASONS.get(status, REASONS[status]) if admin else REASONS[status]
        body: dict[str, Any] = {
            "description": f"{reason} Types: {', '.join(_error_types(status, admin))}.",
            "content": {"application/json": {"schema": error}}}
        if status == 429:
            body["headers"] = {"Retry-After": {"required": True, "description": "Seconds.",
                                               "schema": {"type": "integer", "minimum": 1}}}
        responses[str(status)] = body
    op["responses"] = responses
    return op


@functools.cache
def _document() -> str:
    models = _models()
    inputs = [(model, "validation") for model in models]
    outputs = [(model, "serialization") for model in models]
    refs, schemas = models_json_schema([*inputs, *outputs], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in (*r.QUERY_APP, *r.ADMIN_APP):
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Lomas", "version": "0.1.0",
                 "description": "Remote differentially-private analysis of data you never see."},
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas.get("$defs", {}),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def openapi_document() -> dict[str, Any]:
    """The document, as served."""
    return json.loads(_document())  # type: ignore[no-any-return]


def main() -> None:
    """`python -m functions.common.openapi > docs/openapi.json`"""
    sys.stdout.write(_document())


if __name__ == "__main__":
    main()
