"""Schemathesis against the served apps: no 5xx, and every response conforms to the document.

Bounded examples per operation, with a researcher's token on researcher routes and an
admin's on admin routes, over real HTTP (waitress on loopback).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.common.openapi import openapi_document
from lomas.domain import PrivacyCost
from lomas.testing.fakes import InMemoryStore
from tests.conftest import LiveServer, make_world, serve

schema = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    world = make_world(InMemoryStore(), root, PrivacyCost(1e6, 0.5), query_rate=0)
    yield from serve(world)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_document(case: schemathesis.Case, server: LiveServer) -> None:
    admin = case.path.startswith("/admin")
    token = server.world.admin_token if admin else server.world.token
    case.call_and_validate(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                           checks=CHECKS)
