"""What the bench's scripts share: where a run writes, and stopping a server it started."""

from __future__ import annotations

import argparse
import signal
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "build" / "bench"
"""Where a run writes by default: under build/, which git ignores."""
RECORDED = ROOT / "bench" / "results"
"""Where --record writes: the runs kept in git (docs/benchmark.md cites them)."""


def outputs(parser: argparse.ArgumentParser) -> None:
    """--out DIR, or --record: where the run's results go."""
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--out", type=Path, default=RESULTS,
                     help="where the results go (default build/bench/, not tracked)")
    out.add_argument("--record", dest="out", action="store_const", const=RECORDED,
                     help="write them to bench/results/, to keep the run in git")


def stop(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
