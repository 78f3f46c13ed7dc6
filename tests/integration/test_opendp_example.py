"""The researcher guide's OpenDP example runs against a live server and is charged what
OpenDP maps."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lomas import demo
from lomas.domain import Dataset, PrivacyCost
from lomas_contract.sources.local import LocalAccess
from tests.conftest import World, serve

ROOT = Path(__file__).resolve().parents[2]


def test_opendp_example_runs(mongo_world: World) -> None:
    root = mongo_world.ctx.settings.resolved_data_root
    demo.income_frame(3000, seed=5).to_csv(root / "income_synth.csv", index=False)
    mongo_world.store.create_dataset(Dataset("income_synth", LocalAccess(
        path="income_synth.csv"), demo.income_metadata(3000)))
    mongo_world.store.put_grant("alice", "income_synth", PrivacyCost(10.0, 0.005))
    for server in serve(mongo_world):
        env = dict(os.environ, LOMAS_URL=server.url, LOMAS_TOKEN=mongo_world.token)
        out = subprocess.run([sys.executable, str(ROOT / "examples" / "opendp_quickstart.py")],
                             env=env, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ε 1, δ 0")
    assert "len" in out.stdout and "income" in out.stdout
    remaining = ast.literal_eval(lines[-1])
    assert remaining["remaining_epsilon"] == pytest.approx(10.0 - 1.0 - 1.0)
    assert [r.engine for r in mongo_world.store.list_archives(user="alice")] == ["opendp"] * 2
