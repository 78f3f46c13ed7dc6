"""API Gateway proxy events for tests, made from the fixtures in infra/sam/events/."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "infra" / "sam" / "events"
KINDS = ("rest-proxy", "http", "http-stage")


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def event(kind: str, method: str, path: str, body: Any = None, token: str | None = None,
          query: dict[str, str] | None = None, raw_body: str | None = None,
          request_id: str | None = None) -> dict[str, Any]:
    """A REST API (payload 1.0, behind /{proxy+}) or HTTP API (2.0) event for one request."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    rid = request_id or uuid.uuid4().hex
    if kind == "rest-proxy":
        ev = copy.deepcopy(_fixture("rest-api-proxy.json"))
        ev.update(httpMethod=method, path=path, body=text, isBase64Encoded=False,
                  pathParameters={"proxy": path.lstrip("/")},
                  queryStringParameters=query or None,
                  multiValueQueryStringParameters={k: [v] for k, v in (query or {}).items()}
                  or None)
        kept = {k: v for k, v in ev["headers"].items()
                if k.lower() not in ("authorization", "content-type")}
        ev["headers"] = {**kept, **headers}
        ev["multiValueHeaders"] = {k: [v] for k, v in ev["headers"].items()}
        ev["requestContext"].update(httpMethod=method, requestId=rid,
                                    path=f"/{ev['requestContext']['stage']}{path}")
        return ev
    ev = copy.deepcopy(_fixture("http-api.json"))
    stage = "prod" if kind == "http-stage" else "$default"
    raw_path = f"/prod{path}" if kind == "http-stage" else path
    kept = {k: v for k, v in ev["headers"].items() if k not in ("authorization", "content-type")}
    ev.update(rawPath=raw_path, body=text, isBase64Encoded=False, headers={**kept, **headers},
              rawQueryString="&".join(f"{k}={v}" for k, v in (query or {}).items()))
    ev["requestContext"].update(stage=stage, requestId=rid)
    ev["requestContext"]["http"].update(method=method, path=raw_path)
    return ev
