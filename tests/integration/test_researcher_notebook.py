"""examples/researcher.ipynb runs, cell by cell, in a Jupyter kernel against the served apps;
the committed notebook carries no outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from lomas.domain import PrivacyCost
from lomas.testing.fakes import InMemoryStore
from tests.conftest import LiveServer, make_world, serve

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "researcher.ipynb"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[LiveServer]:
    """Both apps on a loopback port (the kernel is another process), on `income`."""
    world = make_world(InMemoryStore(), tmp_path, PrivacyCost(10.0, 1e-3),
                       max_body_bytes=2_000_000)
    yield from serve(world)


def _text(cell: dict) -> str:
    """What a code cell showed: its streams and the plain text of its results."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def test_the_notebook_runs_against_the_served_apps(
        served: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    for name, value in {"LOMAS_URL": served.url, "LOMAS_TOKEN": served.world.token,
                        "LOMAS_DATASET": "income", "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(name, value)  # the kernel inherits this process's environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    chart = tmp_path / "budget.png"
    notebook.cells.append(nbformat.v4.new_code_cell(  # Agg shows nothing: what was drawn
        f"figure.savefig({str(chart)!r})\n"
        "import json\n"
        "print(json.dumps({'title': axes.get_title(),"
        " 'bars': [bar.get_height() for bar in axes.patches]}))"))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    shown = "\n".join(_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    assert "at 95% confidence COUNT(*) within ±" in shown
    assert "AVG(income) not available" in shown
    assert "at 99% confidence" in shown
    assert "len (Frame Length) within ±" in shown
    grant = served.world.store.get_grant("alice", "income")
    archives = served.world.store.list_archives(user="alice", dataset="income")
    assert grant is not None and grant.spent.epsilon > 0
    assert sorted(record.engine for record in archives) == ["opendp", "smartnoise_sql"]
    assert sum(record.cost.epsilon for record in archives) == pytest.approx(
        grant.spent.epsilon)
    drawn = json.loads(_text(notebook.cells[-1]))
    assert drawn["title"] == "Budget used on income"
    assert sorted(drawn["bars"]) == pytest.approx(sorted(r.cost.epsilon for r in archives))
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_the_committed_notebook_has_no_outputs() -> None:
    """Outputs are stripped in git: they would hold one run's noisy answers and tokens."""
    notebook = json.loads(NOTEBOOK.read_text())
    nbformat.validate(nbformat.from_dict(notebook))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["source"]
        assert not cell["metadata"].get("execution"), cell["source"]
    assert set(notebook["metadata"]) <= {"kernelspec", "language_info"}
