"""Fixtures for the deployment checks: Lambda handlers built from the environment."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import World

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The handlers configure JSON logging on the root logger, as on Lambda; undo it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lambda_env(world: World, embedded_uri: str) -> dict[str, str]:
    """What the SAM template gives a function, pointed at this test's store and data."""
    return {
        "LOMAS_MONGODB_URL": embedded_uri,
        "LOMAS_MONGODB_DB": world.store.users.database.name,  # type: ignore[attr-defined]
        "LOMAS_DATA_ROOT": str(world.ctx.settings.resolved_data_root),
        "LOMAS_STATE_DIR": str(world.ctx.settings.state_dir),
    }


@pytest.fixture
def handlers(mongo_world: World, embedded_uri: str, monkeypatch: pytest.MonkeyPatch,
             restore_logging: None) -> dict[str, Callable[[dict, Any], dict]]:
    """The query and admin functions' Lambda handlers, each built as at a cold start."""
    from functions.common.lambda_events import lambda_handler

    for key, value in lambda_env(mongo_world, embedded_uri).items():
        monkeypatch.setenv(key, value)
    return {"query": lambda_handler("query", "admin"), "admin": lambda_handler("admin")}
