"""One way into the Chalice apps for every front end: the WSGI server and Lambda.

Both turn what they receive into (method, path, headers, body) and hand it to
Chalice's own LocalGateway, which matches the app's route table and builds the
event the app expects. Routes are therefore defined once, in the Chalice apps;
paths under /admin go to the admin app, the rest to the query app, as the API
in front of the two functions routes them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from chalice import Chalice
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

from functions.common.apps import load_app
from functions.common.request_ids import new_request_id, set_request_id
from lomas.services.context import Context
from lomas_contract.models import ErrorResponse

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/admin"
NO_ROUTE = ErrorResponse(type="NotFound", message="No such route.").model_dump_json().encode()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class Gateway:
    """Dispatches requests to the query and/or admin app; a missing app answers 404."""

    def __init__(self, query: Chalice | None, admin: Chalice | None) -> None:
        config = Config.create(lambda_timeout=900, lambda_memory_size=1024)
        self._query = LocalGateway(query, config) if query is not None else None
        self._admin = LocalGateway(admin, config) if admin is not None else None

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes,
               request_id: str | None = None) -> Reply:
        """Answer one request. `path` may carry a query string."""
        request_id = request_id or new_request_id()
        set_request_id(request_id)
        try:
            reply = self._handle(method, path, {k.lower(): v for k, v in headers.items()}, body)
        finally:
            set_request_id(None)
        if not any(k.lower() == "x-request-id" for k in reply.headers):
            reply.headers["X-Request-Id"] = request_id
        return reply

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        gateway = self._admin if is_admin_path(path.split("?", 1)[0]) else self._query
        if gateway is None:
            return self._no_route(method, path, "this function does not serve it")
        try:
            response = gateway.handle_request(method, path, headers, body)
        except LocalGatewayException as exc:  # no such route
            return self._no_route(method, path, exc.CODE)
        payload = response.get("body") or b""
        if isinstance(payload, str):
            payload = payload.encode()
        out = {k: str(v) for k, v in (response.get("headers") or {}).items()}
        return Reply(int(response["statusCode"]), out, payload)

    @staticmethod
    def _no_route(method: str, path: str, why: object) -> Reply:
        log.info("no route for %s %s (%s)", method, path.split("?", 1)[0], why)
        return Reply(404, {"Content-Type": "application/json"}, NO_ROUTE)


def build_gateway(ctx: Context, *names: str) -> Gateway:
    """The named apps ("query", "admin"), sharing one Context, behind one Gateway."""
    apps = {}
    for name in names:
        module = load_app(name)
        module.deps.install(ctx)
        apps[name] = module.app
    return Gateway(apps.get("query"), apps.get("admin"))
