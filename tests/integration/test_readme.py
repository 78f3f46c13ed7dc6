"""The README's quickstart is examples/quickstart.py, and it runs against a live server; the
researcher's guide shows the other examples as they are."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lomas.domain import PrivacyCost
from tests.conftest import World, serve
from tests.support.data import write_income

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "researchers.md"


def test_readme_snippet_is_the_example_file() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```python\n") + len("```python\n")
    snippet = readme[start:readme.index("```", start)]
    example = (ROOT / "examples" / "quickstart.py").read_text()
    assert example.endswith(snippet)
    assert len([line for line in snippet.splitlines() if line.strip()]) <= 10


def _example_body(name: str) -> str:
    """An example file without its docstring: what the README shows of it."""
    return (ROOT / "examples" / name).read_text().split('"""\n\n', 1)[1]


def test_the_guides_opendp_snippet_is_the_example_file() -> None:
    assert _example_body("opendp_quickstart.py") in GUIDE.read_text()


def test_quickstart_runs_and_the_budget_drops_by_the_cost(mongo_world: World) -> None:
    store = mongo_world.store
    store.create_dataset(write_income(mongo_world.ctx.settings.resolved_data_root, "income_synth"))
    store.put_grant("alice", "income_synth", PrivacyCost(10.0, 0.005))
    for server in serve(mongo_world):
        env = dict(os.environ, LOMAS_URL=server.url, LOMAS_TOKEN=mongo_world.token)
        out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], env=env,
                             capture_output=True, text=True, timeout=120, check=True).stdout
    lines = out.splitlines()
    before, after = ast.literal_eval(lines[0]), ast.literal_eval(lines[-1])
    assert lines[1].startswith("ε 3, δ 1.5e-05; at 95% confidence COUNT(*) within ±")
    assert "avg_income" in out
    assert after["remaining_epsilon"] == pytest.approx(before["remaining_epsilon"] - 3.0)
    grant = store.get_grant("alice", "income_synth")
    assert grant is not None and grant.spent.epsilon == 3.0


def test_the_guides_synth_snippet_is_the_example_file() -> None:
    assert _example_body("synth_quickstart.py") in GUIDE.read_text()


@pytest.mark.slow
def test_synth_and_model_examples_run_and_show_in_the_history(mongo_world: World) -> None:
    from lomas_client import Client

    store = mongo_world.store
    store.create_dataset(write_income(mongo_world.ctx.settings.resolved_data_root, "income_synth"))
    store.put_grant("alice", "income_synth", PrivacyCost(10.0, 0.005))
    for server in serve(mongo_world):
        env = dict(os.environ, LOMAS_URL=server.url, LOMAS_TOKEN=mongo_world.token)
        out = subprocess.run([sys.executable, str(ROOT / "examples" / "synth_quickstart.py")],
                             env=env, capture_output=True, text=True, timeout=300, check=True)
        client = Client(server.url, mongo_world.token, "income_synth")
        dummy = client.smartnoise_synth.query("aim", epsilon=1.0, delta=1e-5,
                                              select_cols=["sex", "age"], nb_samples=10,
                                              synth_params={"rounds": 2}, dummy=True)
        history = client.get_previous_queries()
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ε ") and "δ 1e-05; accuracy not available" in lines[0]
    assert "education" in lines[1]
    assert lines[-3].startswith("accuracy ")
    assert lines[-2] in ("['F']", "['M']")
    assert len(dummy) == 10 and list(dummy.columns) == ["sex", "age"]
    grant = store.get_grant("alice", "income_synth")
    assert grant is not None  # MWEM 0.5, the pipeline 1.5, its score 0.2: nothing else
    assert grant.spent.epsilon == pytest.approx(2.2) and grant.spent.delta == 0.0
    assert {"smartnoise_synth", "diffprivlib"} <= set(history["engine"])


def test_the_readmes_cost_table_is_what_smartnoise_charges() -> None:
    """Each row of the table under <!-- costs -->, priced by the function Lomas charges
    with, on the demo dataset's metadata, at the epsilon and delta the README says."""
    import re

    from lomas import demo
    from lomas.engines.smartnoise_sql import execution
    from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlCostRequest

    text = (ROOT / "README.md").read_text().split("<!-- costs -->", 1)[1]
    rows = re.findall(r"^\| `(SELECT [^`]+)` \| ([\d.e-]+) \| ([\d.e-]+) \|", text, re.MULTILINE)
    assert len(rows) == 5
    metadata = demo.income_metadata(1000)
    for sql, epsilon, delta in rows:
        cost = execution.estimate_cost("income_synth", metadata, SmartnoiseSqlCostRequest(
            dataset_name="income_synth", query_str=sql, epsilon=1.0, delta=1e-5))
        assert cost.epsilon == pytest.approx(float(epsilon)), sql
        assert cost.delta == pytest.approx(float(delta), rel=1e-3), sql
