"""The published API: the route table, the Chalice apps and the OpenAPI document agree."""

from __future__ import annotations

import json
from pathlib import Path

from chalice.test import Client as ChaliceClient

from functions.common.apps import load_app
from functions.common.openapi import openapi_document
from lomas_contract import routes as r

ROOT = Path(__file__).resolve().parents[2]


def test_the_apps_register_exactly_the_route_table() -> None:
    for app_name, table in (("query", r.QUERY_APP), ("admin", r.ADMIN_APP)):
        app = load_app(app_name).app
        served = {(path, method) for path, entries in app.routes.items() for method in entries}
        assert served == {(route.path, route.method) for route in table}, app_name
        names = {entries[method].view_name for path, entries in app.routes.items()
                 for method in entries}
        assert names == {route.name for route in table}


def test_the_served_document_is_the_committed_one(query_client: ChaliceClient) -> None:
    response = query_client.http.get("/openapi.json")
    assert response.status_code == 200
    served = json.loads(response.body)
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert served == committed, "docs/openapi.json is stale: run `make openapi`"


def test_the_document_describes_every_route_with_its_errors() -> None:
    doc = openapi_document()
    assert doc["openapi"] == "3.1.0"
    for route in (*r.QUERY_APP, *r.ADMIN_APP):
        op = doc["paths"][route.path][route.method.lower()]
        assert op["operationId"] == route.name
        assert str(route.status) in op["responses"]
        if route.access != "public":
            for status in ("401", "403", "500"):
                schema = op["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    query = doc["paths"]["/smartnoise_sql_query"]["post"]["responses"]
    assert {"409", "422", "429"} <= set(query) and "Retry-After" in query["429"]["headers"]
    assert "404" in doc["paths"]["/admin/users/{user_name}"]["get"]["responses"]
    assert doc["paths"]["/health"]["get"]["security"] == []


def test_only_admin_routes_name_invalid_documents() -> None:
    paths = openapi_document()["paths"]
    admin = paths["/admin/import"]["post"]["responses"]["400"]["description"]
    query = paths["/smartnoise_sql_query"]["post"]["responses"]["400"]["description"]
    assert admin.endswith("Types: InvalidDocument, InvalidQuery.") and "import document" in admin
    assert query.endswith("Types: InvalidQuery.")
