"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.slow_data import SlowData


@pytest.fixture
def slow_data() -> Iterator[SlowData]:
    """An HTTP dataset whose first download hangs until `release` is set."""
    data = SlowData()
    yield data
    data.release.set()
    data.server.shutdown()
