"""Headless Chromium from Debian (`apt-get install chromium`), driven by Playwright.
Playwright's own browser download cannot run here: it is pointed at the system's."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("LOMAS_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
"""Where the browser tests write their screenshots (build/ is out of git)."""
AXE = ROOT / "dashboard" / "node_modules" / "axe-core" / "axe.min.js"
# As on a machine with no route out: no update, sync or metrics traffic at start.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


DASHBOARD = ROOT / "functions" / "admin" / "chalicelib" / "ui" / "index.html"


def built_dashboard() -> None:
    """The dashboard's files, which `make dashboard` builds where Node.js can."""
    if not DASHBOARD.exists():
        unavailable("the admin dashboard is not built: `make dashboard` (Node.js 20.19+ with "
                    "npm)")


def chromium_path() -> str:
    found = os.environ.get("LOMAS_TEST_CHROMIUM") or shutil.which("chromium")
    if not found:
        unavailable("no Chromium on PATH: apt-get install chromium (or set LOMAS_TEST_CHROMIUM)")
    return found


def chromium() -> Iterator[object]:
    """One browser for a module's tests."""
    built_dashboard()
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (make test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        yield browser
        browser.close()
