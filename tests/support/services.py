"""A service or tool a test needs (PostgreSQL, Java, Chromium) and cannot find: in CI
(CI=true) the test fails, since CI makes sure each is there; elsewhere it skips, saying
why in one line."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(why: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)
