"""The peer's setup for bench/peer.py: its virtualenv (lomas-server 0.4.1 from PyPI), its
data and config (suite.py's datasets as CSV, a YAML admin database: no MongoDB), and its
server under uvicorn on a loopback port.

The config follows 0.4.1's own models (lomas_core.models.config.Config and
lomas_core.models.collections: runtime_args.settings, the YAML admin database's users and
datasets, each dataset's metadata); tests/integration/test_bench.py checks it against them
where the peer's virtualenv exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml
from common import stop

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_VERSION = "0.4.1"
PINS = (f"lomas-server=={PEER_VERSION}",
        "setuptools<81",  # 0.4.1 imports pkg_resources, gone from setuptools 81
        "scikit-learn==1.5.2",  # diffprivlib 0.6.5 imports sklearn.tree._tree.DOUBLE
        "torch==2.13.0")  # smartnoise-synth pulls torch: this one, not a CUDA build
PYTHONS = ((3, 11), (3, 12))  # lomas-server 0.4.1: Requires-Python >=3.11, <3.13


def venv_dir() -> Path:
    return Path(os.environ.get("LOMAS_PEER_DIR", ROOT / ".venv-peer"))


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def _candidates() -> list[str]:
    named = [os.environ.get("LOMAS_PEER_PYTHON", ""), "python3.11", "python3.12"]
    found = [p for p in (shutil.which(n) for n in named if n) if p]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True,
                              check=False).stdout.strip()
        for major, minor in PYTHONS:
            found += sorted(str(p) for p in Path(root).glob(
                f"versions/{major}.{minor}*/bin/python{major}.{minor}"))
    return found


def find_python() -> str:
    """A Python the peer installs on (3.11 first: the CPU build of torch on disk is for
    it). A pyenv shim of a version not selected exists but fails: each one is run."""
    for python in _candidates():
        if _version(python) in PYTHONS:
            return python
    raise RuntimeError("lomas-server 0.4.1 needs Python 3.11 or 3.12 and none was found "
                       "(python3.11, python3.12, pyenv's versions): set LOMAS_PEER_PYTHON")


def ensure_venv(home: Path | None = None) -> tuple[Path, float]:
    """The peer's virtualenv, installed when its pins changed; its python and the seconds
    the install took (0 when it was there)."""
    home = home or venv_dir()
    python, stamp = home / "bin" / "python", home / ".installed"
    wanted = "\n".join(PINS) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python, 0.0
    started = time.perf_counter()
    if not python.exists() or _version(str(python)) not in PYTHONS:
        shutil.rmtree(home, ignore_errors=True)
        base = find_python()
        print(f"  f. installing lomas-server {PEER_VERSION} into {home} with {base} "
              "(it pulls torch and jax: a few GB, minutes the first time) ...", flush=True)
        subprocess.run([base, "-m", "venv", str(home)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PINS], check=True)
    stamp.write_text(wanted)
    return python, round(time.perf_counter() - started, 1)


def versions(python: Path) -> dict[str, str]:
    names = ("lomas-server", "lomas-core", "smartnoise-sql", "opendp", "fastapi", "uvicorn",
             "pandas", "torch")
    script = ("import json, sys; from importlib.metadata import version; "
              f"print(json.dumps({{n: version(n) for n in {names!r}}} | "
              "{'python': sys.version.split()[0]}))")
    out = subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


# ----------------------------------------------------------------------- its data and config
GRANT = 1e9, 1.0
"""Each researcher's budget on each dataset: never the limit of a run."""


def peer_sql(suite: Any, name: str) -> str:
    """suite.py's query, on the table name 0.4.1 gives every dataset (`df`)."""
    return str(suite.QUERIES[name]).replace("FROM income", "FROM df")


def peer_metadata(metadata: Any) -> dict[str, Any]:
    """Our metadata in 0.4.1's format: the same bounds and categories; its numeric columns
    also name a precision (64 bits: what pandas reads them as)."""
    ours = metadata.model_dump(mode="json", exclude_none=True)
    columns = {}
    for name, column in ours["columns"].items():
        keep = {k: v for k, v in column.items()
                if k in ("type", "nullable", "private_id", "cardinality", "categories",
                         "lower", "upper")}
        if keep["type"] in ("int", "float"):
            keep["precision"] = 64
        columns[name] = keep
    return {"max_ids": ours["max_ids"], "rows": ours["rows"], "row_privacy": ours["row_privacy"],
            "censor_dims": ours.get("censor_dims", False), "columns": columns}


def researchers(count: int) -> list[str]:
    return [f"r{i}" for i in range(count)]


def admin_database(datasets: dict[str, tuple[Path, Path]], users: list[str]) -> dict[str, Any]:
    """0.4.1's YAML admin database: every user granted every dataset (a list of its own
    each: YAML would share one list between users as an alias, and their budgets)."""
    def grants() -> list[dict[str, Any]]:
        return [{"dataset_name": name, "initial_epsilon": GRANT[0], "initial_delta": GRANT[1],
                 "total_spent_epsilon": 0.0, "total_spent_delta": 0.0} for name in datasets]

    return {
        "users": [{"user_name": user, "may_query": True, "datasets_list": grants()}
                  for user in users],
        "datasets": [{"dataset_name": name,
                      "dataset_access": {"database_type": "PATH_DB", "path": str(csv)},
                      "metadata_access": {"database_type": "PATH_DB", "path": str(meta)}}
                     for name, (csv, meta) in datasets.items()],
        "queries": []}


def runtime(db_file: Path, port: int) -> dict[str, Any]:
    """0.4.1's runtime settings: one worker, no timing-attack stall (magnitude 0), no
    develop mode, the YAML admin database. (Its server listens where uvicorn's --port
    says; host_port is only read by 0.4.1's own launcher.)"""
    return {"runtime_args": {"settings": {
        "develop_mode": False,
        "server": {"time_attack": {"method": "stall", "magnitude": 0.0},
                   "host_ip": "127.0.0.1", "host_port": port, "log_level": "warning",
                   "reload": False, "workers": 1},
        "submit_limit": 300,
        "admin_database": {"db_type": "yaml", "db_file": str(db_file)},
        "dp_libraries": {"opendp": {"contrib": True, "floating_point": True,
                                    "honest_but_curious": True}}}}}


def write_workdir(suite: Any, work: Path, sizes: list[int], users: int,
                  port: int) -> dict[str, Path]:
    """suite.py's datasets as CSV (the rows its servers read) with their metadata, and the
    peer's config; the paths of its config files."""
    data, conf = work / "data", work / "conf"
    data.mkdir(parents=True, exist_ok=True)
    conf.mkdir(parents=True, exist_ok=True)
    datasets = {}
    for rows in sizes:
        name = f"income_{rows}"
        csv, meta = data / f"{name}.csv", data / f"{name}_metadata.yaml"
        suite.income_frame(rows).to_csv(csv, index=False)
        meta.write_text(yaml.safe_dump(peer_metadata(suite.income_metadata(rows)),
                                       sort_keys=False))
        datasets[name] = csv, meta
    files = {"db": conf / "admin_db.yaml", "runtime": conf / "runtime.yaml",
             "secrets": conf / "secrets.yaml"}
    files["db"].write_text(yaml.safe_dump(admin_database(datasets, researchers(users)),
                                          sort_keys=False))
    files["runtime"].write_text(yaml.safe_dump(runtime(files["db"], port), sort_keys=False))
    files["secrets"].write_text(yaml.safe_dump({"private_db_credentials": []}))
    return files


# ----------------------------------------------------------------------- its server
@dataclass
class Peer:
    """A running peer server."""

    url: str
    process: subprocess.Popen
    started: float
    log: Path

    def post(self, session: requests.Session, user: str, route: str,
             body: dict[str, Any]) -> Any:
        answer = session.post(f"{self.url}/{route}", json=body, timeout=600,
                              headers={"user-name": user})
        if answer.status_code != 200:
            raise RuntimeError(f"the peer answered {route} with {answer.status_code}: "
                               f"{answer.text[:300]}")
        return answer.json()

    def wait_live(self, timeout: float = 180) -> float:
        """Seconds from its start until /state says LIVE."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the peer exited ({self.process.returncode}): "
                                   f"{self.log.read_text()[-800:]}")
            with contextlib.suppress(requests.RequestException, ValueError, KeyError):
                state = requests.get(f"{self.url}/state", timeout=2).json()
                if state["state"]["LIVE"]:
                    return time.perf_counter() - self.started
            time.sleep(0.02)
        raise RuntimeError(f"the peer was not live after {timeout:.0f} s")


def query_body(sql: str, rows: int, epsilon: float, delta: float) -> dict[str, Any]:
    return {"dataset_name": f"income_{rows}", "query_str": sql, "epsilon": epsilon,
            "delta": delta, "mechanisms": {}, "postprocess": True}


@contextlib.contextmanager
def serve(python: Path, files: dict[str, Path], port: int) -> Iterator[Peer]:
    """The peer under uvicorn (one worker, as its config says) on 127.0.0.1:port, with
    peer_app's one fix of its YAML database; stopped on exit."""
    work = files["db"].parent.parent
    log = work / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMAS_")}
    env.update(LOMAS_CONFIG_PATH=str(files["runtime"]), LOMAS_SECRETS_PATH=str(files["secrets"]),
               PYTHONPATH=str(HERE), PYTHONWARNINGS="ignore")
    with log.open("a") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(python), "-m", "uvicorn", "peer_app:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--workers", "1"],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Peer(f"http://127.0.0.1:{port}", process, started, log)
    finally:
        stop(process, 30)
