"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.container.serve import create_wsgi
from lomas.adapters.sqlite import SqliteStore
from lomas.domain import PrivacyCost
from lomas_client import Client
from tests.conftest import World, make_world
from tests.support.slow_data import SlowData
from tests.support.wsgi_transport import session_for


@pytest.fixture
def slow_data() -> Iterator[SlowData]:
    """An HTTP dataset whose first download hangs until `release` is set."""
    data = SlowData()
    yield data
    data.release.set()
    data.server.shutdown()


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[tuple[World, Path]]:
    store = SqliteStore.open(tmp_path / "lomas.sqlite3")
    yield make_world(store, tmp_path, PrivacyCost(100.0, 1.0)), tmp_path
    store.close()


IN_PROCESS = "http://lomas.test"
"""The URL of the apps served in the test's process (a WSGI transport, no socket)."""


@pytest.fixture
def client(world: World) -> Client:
    """The researcher alice's client on `income`, over the apps in this process."""
    return Client(IN_PROCESS, world.token, "income", session=session_for(create_wsgi(world.ctx)))
