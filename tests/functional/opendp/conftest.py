"""OpenDP tests: a world that takes multi-megabyte pipelines, and tripwires."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from lomas.domain import PrivacyCost
from lomas.testing.fakes import InMemoryStore
from tests.conftest import World, make_world

LIMIT = 2_000_000


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(InMemoryStore(), tmp_path, PrivacyCost(10.0, 1e-3), max_body_bytes=LIMIT)


@pytest.fixture
def tripwires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A module whose import writes a marker file, and sockets that record any connect."""
    marker = tmp_path / "pwned"
    (tmp_path / "lomas_evil_marker.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    connects: list[object] = []

    def refuse(self, address, *args, **kwargs):
        connects.append(address)
        raise OSError("test: no sockets")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield marker, connects
    sys.modules.pop("lomas_evil_marker", None)
