"""Both functions' Lambda handlers, in-process, with API Gateway v1 (/{proxy+}) and v2 events.

Each answer is compared with what the WSGI container answers to the same request.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from typing import Any

import pytest

from functions.container.serve import create_wsgi
from lomas.domain import PrivacyCost
from tests.conftest import World
from tests.support.apigw import KINDS, event
from tests.support.wsgi_transport import session_for

SQL = {"dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income",
       "epsilon": 1.0, "delta": 1e-5}


def body(response: dict[str, Any]) -> Any:
    text = response["body"]
    if response.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    return json.loads(text) if text else None


def wsgi(world: World, method: str, path: str, payload: Any = None,
         token: str | None = None, data: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    session = session_for(create_wsgi(world.ctx))
    r = session.request(method, f"http://lomas.test{path}", json=payload, data=data,
                        headers={**headers, "Content-Type": "application/json"})
    return r.status_code, (r.json() if r.content else None)


@pytest.mark.parametrize("kind", KINDS)
def test_metadata_same_as_wsgi(kind: str, handlers: dict, mongo_world: World) -> None:
    req = {"dataset_name": "income"}
    ev = event(kind, "POST", "/get_dataset_metadata", req, mongo_world.token,
               request_id="apigw-req-1")
    response = handlers["query"](ev, None)
    assert response["statusCode"] == 200
    assert response["headers"]["X-Request-Id"] == "apigw-req-1"
    assert (200, body(response)) == wsgi(mongo_world, "POST", "/get_dataset_metadata", req,
                                         mongo_world.token)
    assert body(response)["columns"]["income"]["type"] == "float"


@pytest.mark.parametrize("kind", KINDS)
def test_sql_query_spends_budget(kind: str, handlers: dict, mongo_world: World) -> None:
    cost = body(handlers["query"](event(kind, "POST", "/estimate_smartnoise_sql_cost", SQL,
                                        mongo_world.token), None))
    ev = event(kind, "POST", "/smartnoise_sql_query", SQL, mongo_world.token)
    response = handlers["query"](ev, None)
    assert response["statusCode"] == 200, body(response)
    frame = body(response)["result"]["df"]
    assert frame["columns"] == ["n"] and len(frame["data"]) == 1
    grant = mongo_world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent == PrivacyCost(cost["epsilon"], cost["delta"])
    remaining = handlers["query"](event(kind, "POST", "/get_remaining_budget",
                                        {"dataset_name": "income"}, mongo_world.token), None)
    assert body(remaining) == pytest.approx(
        {"remaining_epsilon": 10.0 - cost["epsilon"], "remaining_delta": 1e-3 - cost["delta"]})


@pytest.mark.parametrize("kind", KINDS)
def test_admin_creates_a_user(kind: str, handlers: dict, mongo_world: World) -> None:
    ev = event(kind, "POST", "/admin/users", {"user_name": f"bob_{kind.replace('-', '_')}"},
               mongo_world.admin_token)
    response = handlers["admin"](ev, None)
    assert response["statusCode"] == 201, body(response)
    assert body(response)["token"].startswith("lomas_")
    listed = handlers["admin"](event(kind, "GET", "/admin/users", None,
                                     mongo_world.admin_token), None)
    assert f"bob_{kind.replace('-', '_')}" in [u["user_name"] for u in body(listed)["users"]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("function", "method", "path", "payload", "raw", "auth", "status",
                          "error"), [
    ("query", "POST", "/no_such_route", {}, None, True, 404, "NotFound"),
    ("admin", "GET", "/admin/nothing/here", None, None, True, 404, "NotFound"),
    ("admin", "POST", "/get_dataset_metadata", {}, None, True, 404, "NotFound"),
    ("query", "POST", "/get_dataset_metadata", None, "{not json", True, 400, "InvalidQuery"),
    ("admin", "POST", "/admin/users", None, "[1, 2", True, 400, "InvalidDocument"),
    ("query", "POST", "/get_dataset_metadata", {"dataset_name": "income"}, None, False, 401,
     "Unauthenticated"),
    ("admin", "GET", "/admin/users", None, None, False, 401, "Unauthenticated"),
    ("query", "GET", "/get_dataset_metadata", None, None, True, 405, "MethodNotAllowed"),
])
def test_errors_same_as_wsgi(kind: str, function: str, method: str, path: str, payload: Any,
                             raw: str | None, auth: bool, status: int, error: str,
                             handlers: dict, mongo_world: World) -> None:
    token = (mongo_world.admin_token if function == "admin" else mongo_world.token) if auth \
        else None
    response = handlers[function](event(kind, method, path, payload, token, raw_body=raw), None)
    assert response["statusCode"] == status
    assert body(response)["type"] == error and set(body(response)) == {"type", "message"}
    if function == "query" or path.startswith("/admin"):
        assert wsgi(mongo_world, method, path, payload, token, raw) == (status, body(response))


@pytest.mark.parametrize("kind", KINDS)
def test_query_string_and_base64_body(kind: str, handlers: dict, mongo_world: World) -> None:
    for user, expected in (("alice", ["alice"]), ("nobody", [])):
        ev = event(kind, "GET", "/admin/grants", None, mongo_world.admin_token,
                   query={"user_name": user})
        assert [g["user_name"] for g in body(handlers["admin"](ev, None))["grants"]] == expected
    ev = event(kind, "POST", "/get_dataset_metadata", {"dataset_name": "income"},
               mongo_world.token)
    ev.update(body=base64.b64encode(ev["body"].encode()).decode(), isBase64Encoded=True)
    assert handlers["query"](ev, None)["statusCode"] == 200


def test_the_query_function_serves_the_dataset_check(handlers: dict,
                                                     mongo_world: World) -> None:
    ev = event("http", "POST", "/admin/datasets/income/check", None, mongo_world.admin_token)
    response = handlers["query"](ev, None)
    assert response["statusCode"] == 200 and body(response)["rows"] > 0


def test_an_unreadable_event_is_a_400(handlers: dict) -> None:
    response = handlers["query"]({"version": "2.0", "rawPath": "/health"}, None)
    assert response["statusCode"] == 400 and body(response)["type"] == "InvalidQuery"


def test_logs_are_json_with_api_gateways_request_id(handlers: dict, mongo_world: World) -> None:
    (handler,) = [h for h in logging.getLogger().handlers
                  if type(h.formatter).__name__ == "JsonFormatter"]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    ev = event("http", "POST", "/smartnoise_sql_query", SQL, mongo_world.token,
               request_id="Abc-apigw-42")
    assert handlers["query"](ev, None)["statusCode"] == 200
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    audit = [entry for entry in lines if entry["message"].startswith("query user=alice")]
    assert audit and all(entry["request_id"] == "Abc-apigw-42" for entry in audit)
    assert mongo_world.token not in json.dumps(lines)


def test_a_500_carries_the_request_id(handlers: dict, mongo_world: World,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from lomas.services import researcher

    def broken(*args: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(researcher, "metadata", broken)
    ev = event("http", "POST", "/get_dataset_metadata", {"dataset_name": "income"},
               mongo_world.token, request_id="req-500")
    response = handlers["query"](ev, None)
    assert response["statusCode"] == 500
    assert "req-500" in body(response)["message"]
    assert "secret detail" not in response["body"]
    assert response["headers"]["X-Request-Id"] == "req-500"
