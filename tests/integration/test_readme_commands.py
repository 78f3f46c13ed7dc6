"""Every command block of the README, run as a newcomer pastes it: `make run` in a fresh
folder shaped like the checkout, the researcher's first query against it, the admin's
first dataset, then Ctrl+C and the reset. Each bash block of the README says how it is
tested (`<!-- test: NAME -->`); one that says nothing fails here."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from functions.container.serve import read_env_file
from tests.support.browser import DASHBOARD
from tests.support.slow_data import free_port

ROOT = Path(__file__).resolve().parents[2]
TESTED = ("make", "researcher", "admin")
"""How each block is tested: by the test below, in this order."""
KEEP_OUT = {".lomas", ".git", "build", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def blocks() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    found = re.findall(r"(?:<!-- test: (\w+) -->\n)?```bash\n(.*?)```", text, re.DOTALL)
    untested = [body.splitlines()[0] for name, body in found if not name]
    assert not untested, f"README bash blocks that no test runs: {untested}"
    named = {name: body for name, body in found}
    assert sorted(named) == sorted(TESTED), named.keys()
    return named


def test_every_bash_block_of_the_readme_is_run_by_a_test() -> None:
    assert blocks()["make"].split("\n")[0].split("#")[0].strip() == "make run"


class MakeRun:
    """`make run` in `folder`, in its own process group (Ctrl+C reaches all of it)."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOMAS_")}
        env["LOMAS_PORT"] = str(port)
        self.process = subprocess.Popen(
            ["make", "run"], cwd=folder, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.out: list[str] = []
        deadline = time.monotonic() + 180  # the demo's 200,000 rows are written once
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.out.append(line)
            if "the admin dashboard:" in line:
                break
            assert time.monotonic() < deadline, "".join(self.out)
        else:
            pytest.fail("make run ended:\n" + "".join(self.out))
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise


def _checkout_like(folder: Path) -> Path:
    """A folder with the checkout's files (linked) and no .lomas: a newcomer's clone that
    `make test` has installed."""
    for entry in ROOT.iterdir():
        if entry.name not in KEEP_OUT:
            (folder / entry.name).symlink_to(entry)
    return folder


def bash(block: str, folder: Path) -> str:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=folder,
                          capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("LOMAS_")})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _tokens(folder: Path) -> dict[str, str]:
    return read_env_file(folder / ".lomas" / "demo.env")


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Path]:
    yield _checkout_like(tmp_path)


@pytest.mark.slow
def test_the_readme_from_make_run_to_the_reset(checkout: Path) -> None:
    readme = blocks()
    server = MakeRun(checkout, free_port())
    try:
        page = requests.get(server.url + "/admin/ui/index.html", timeout=10)
        if DASHBOARD.exists():  # built, where Node.js can: else the page says how
            assert page.status_code == 200 and "Lomas admin" in page.text
        else:
            assert page.status_code == 404 and "make dashboard" in page.json()["message"]
        first = _tokens(checkout)

        out = bash(readme["researcher"], checkout)
        assert "avg_income" in out and "ε 3, δ 1.5e-05" in out

        admin = bash(readme["admin"], checkout)
        assert "lomas_" in admin  # bob's token, shown once
        assert "TODO" in (checkout / "draft.yaml").read_text()  # bounds left to the owner
        grant = requests.get(server.url + "/admin/grants/bob/visits", timeout=10, headers={
            "Authorization": f"Bearer {first['LOMAS_ADMIN_TOKEN']}"}).json()
        assert (grant["initial_epsilon"], grant["remaining_epsilon"]) == (7.0, 7.0)
    finally:
        stopped = server.ctrl_c()
    assert stopped in (0, 2, -signal.SIGINT, 130), "".join(server.out)  # Ctrl+C stops it

    bash("rm -rf .lomas", checkout)  # the README's reset
    again = MakeRun(checkout, server.port)  # the port is free again
    try:
        fresh = _tokens(checkout)
        assert fresh["LOMAS_ADMIN_TOKEN"] != first["LOMAS_ADMIN_TOKEN"]
        users = requests.get(again.url + "/admin/users", timeout=10, headers={
            "Authorization": f"Bearer {fresh['LOMAS_ADMIN_TOKEN']}"}).json()["users"]
        assert "bob" not in {u["user_name"] for u in users}
    finally:
        again.ctrl_c()
