"""The benchmark suite runs end to end on tiny datasets (what it measures is not asserted:
benchmarks are not timed tests), reads the peer's results as bench/peer.py writes them, and
writes outside the files git tracks. The peer driver's pieces are checked without its
install: the rows, SQL and config it gives lomas-server 0.4.1 (and, where its virtualenv
exists, that config against 0.4.1's own models)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra.conftest import ROOT


def _suite():
    import importlib.util
    import sys

    if "bench_suite" in sys.modules:
        return sys.modules["bench_suite"]
    spec = importlib.util.spec_from_file_location("bench_suite", ROOT / "bench" / "suite.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_suite"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_suite_runs_on_tiny_data_and_writes_its_results(tmp_path: Path) -> None:
    suite = _suite()
    report = suite.main(["--sizes", "300,500", "--runs", "2", "--runs-big", "1",
                         "--cold-runs", "1", "--seconds", "1", "--threads", "1,2",
                         "--no-peer", "--out", str(tmp_path)])
    assert [(r["store"], r["rows"], r["query"]) for r in report["latency"]] == [
        (store, rows, query) for store in ("sqlite", "mongoeco") for rows in (300, 500)
        for query in ("count_avg", "group_by")]
    assert all(r["floor_ms"] > 0 and r["new_ms"] > 0 and r["direct_ms"] > 0
               and r["target_ms"] == pytest.approx(1.5 * r["floor_ms"] + 5, abs=0.01)
               for r in report["latency"])
    trips = {(t["store"], t["path"]): t["round_trips"] for t in report["round_trips"]}
    assert set(trips) == {(s, p) for s in ("sqlite", "mongoeco") for p in ("client", "direct")}
    assert trips["sqlite", "direct"] <= 3 and trips["sqlite", "client"] <= 4
    first = report["first_query"]
    assert first["local_parquet_ms"] > 0 and first["s3_ms"] > 0
    assert len(first["local_parquet_each_ms"]) == len(first["s3_each_ms"]) == 3
    assert set(report["cold_start"]) == {"import_s", "health_s", "budget_s", "sql_s"}
    assert [(t["store"], t["researchers"]) for t in report["throughput"]] == [
        ("sqlite", 1), ("sqlite", 2), ("mongoeco", 1), ("mongoeco", 2)]
    assert all(t["errors"] == 0 and t["rps"] > 0 for t in report["throughput"])
    assert report["peak_rss"]["peak_rss_mib"] > 0
    assert report["peer_status"] == "skipped (--no-peer)"
    written = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert written["latency"] == report["latency"]
    markdown = (tmp_path / "latest.md").read_text()
    assert "| a. SQL end to end |" in markdown and "| r. store round trips" in markdown
    assert "| e. peak RSS |" in markdown
    sources = report["sources"]
    assert [r["backend"] for r in sources["backends"]] == ["postgres", "spark"]
    assert all(r["ms"] > 0 and r["floor_ms"] > 0 for r in sources["backends"])
    assert sources["first_parquet"]["first_ms"] > 0
    assert sources["first_parquet"]["plain_scan_ms"] > 0
    assert [r["rows"] for r in sources["rss_parquet"]] == [500, 5000]
    assert "| g. SQL end to end, pushed down |" in markdown and "| i. peak RSS" in markdown


def test_the_peers_figures_are_read_from_its_results() -> None:
    suite = _suite()
    results = {
        "raw": {"query_count_avg_10000": {"median_ms": 305.0},
                "query_group_by_10000": {"median_ms": 387.0},
                "get_remaining_budget_post": {"median_ms": 6.0}},
        "cold_start": {"median_first_query_s": 5.0},
        "sequential_1thread_patched": {"ok_rps": 3.47},
        "throughput_distinct_users_patched": {"ok_rps": 1.26},
        "rss": {"idle_after_first_query": {"VmHWM_MiB": 700.0},
                "end_patched": {"VmHWM_MiB": 929.0}},
    }
    assert suite.peer_figures(results) == {
        "query_count_avg_10000": 305.0, "query_group_by_10000": 387.0, "first_answer_s": 5.0,
        "rps_1": 3.47, "rps_8": 1.26, "peak_rss_mib": 929.0}
    assert suite.ratio(30.5, 305.0) == "10.0x" and suite.ratio(None, 1.0) == "—"


def test_the_peers_figures_are_read_from_the_peer_driver_and_the_recorded_run() -> None:
    suite = _suite()
    driver = {"raw": {"query_count_avg_10000": {"median_ms": 170.2, "runs": 5}},
              "cold_start": {"median_first_query_s": 3.0},
              "throughput": [{"researchers": 1, "ok_rps": 5.1}, {"researchers": 8, "ok_rps": 5.6},
                             {"researchers": 32, "ok_rps": 5.0}],
              "rss": {"after_all_sizes": {"VmHWM_MiB": 330.0}, "end": {"VmHWM_MiB": 336.3}}}
    assert suite.peer_figures(driver) == {
        "query_count_avg_10000": 170.2, "first_answer_s": 3.0, "rps_1": 5.1, "rps_8": 5.6,
        "rps_32": 5.0, "peak_rss_mib": 336.3}
    recorded = suite.peer_figures(json.loads(
        (ROOT / "bench" / "results" / "peer-0.4.1-20261126.json").read_text()))
    assert all(recorded[f"query_{q}_{rows}"] > 0 for q in ("count_avg", "group_by")
               for rows in (10_000, 200_000, 1_000_000))
    assert recorded["first_answer_s"] > 0 and recorded["rps_1"] > 0 and recorded["rps_8"] > 0
    assert recorded["peak_rss_mib"] > 0


def _peer_workdir(tmp_path: Path, sizes: list[int], users: int) -> tuple[object, dict[str, Path]]:
    suite = _suite()
    import peer_setup  # bench/, on the path once suite.py is loaded

    return peer_setup, peer_setup.write_workdir(suite, tmp_path, sizes, users, port=18123)


def test_the_peer_reads_the_rows_and_answers_the_sql_our_servers_do(tmp_path: Path) -> None:
    import pandas as pd

    suite = _suite()
    setup, files = _peer_workdir(tmp_path, [300, 500], users=3)
    database = yaml.safe_load(files["db"].read_text())
    for rows in (300, 500):
        entry = next(d for d in database["datasets"] if d["dataset_name"] == f"income_{rows}")
        csv = pd.read_csv(entry["dataset_access"]["path"])
        pd.testing.assert_frame_equal(csv, suite.income_frame(rows))
        ours = suite.income_metadata(rows).model_dump(mode="json")
        theirs = yaml.safe_load(Path(entry["metadata_access"]["path"]).read_text())
        assert theirs["rows"] == rows and theirs["censor_dims"] == ours["censor_dims"]
        for name, column in theirs["columns"].items():
            assert {k: v for k, v in column.items() if k != "precision"} == {
                k: ours["columns"][name][k] for k in column if k != "precision"}
            assert column.get("precision") == (64 if column["type"] in ("int", "float") else None)
        for query in suite.QUERIES:
            sql = setup.peer_sql(suite, query)  # type: ignore[attr-defined]
            assert sql.endswith(("FROM df", "FROM df GROUP BY region"))
            assert sql.replace("FROM df", f"FROM income_{rows}") == suite.query_sql(query, rows)


# What lomas-server 0.4.1 requires of its config (lomas_core.models.config.Config, read
# from runtime.yaml's runtime_args.settings merged with secrets.yaml) and of its YAML admin
# database (lomas_core.models.collections: User, DatasetOfUser, DSInfo).
PEER_SETTINGS = {"develop_mode", "server", "submit_limit", "admin_database", "dp_libraries"}
PEER_SERVER = {"time_attack", "host_ip", "host_port", "log_level", "reload", "workers"}
PEER_GRANT = {"dataset_name", "initial_epsilon", "initial_delta", "total_spent_epsilon",
              "total_spent_delta"}


def test_the_peers_config_has_what_0_4_1_reads(tmp_path: Path) -> None:
    _, files = _peer_workdir(tmp_path, [300], users=3)
    settings = yaml.safe_load(files["runtime"].read_text())["runtime_args"]["settings"]
    assert set(settings) == PEER_SETTINGS and set(settings["server"]) == PEER_SERVER
    assert settings["server"]["time_attack"] == {"method": "stall", "magnitude": 0.0}
    assert settings["server"]["host_ip"] == "127.0.0.1" and settings["server"]["workers"] == 1
    assert settings["admin_database"] == {"db_type": "yaml", "db_file": str(files["db"])}
    assert set(settings["dp_libraries"]["opendp"]) == {"contrib", "floating_point",
                                                      "honest_but_curious"}
    assert yaml.safe_load(files["secrets"].read_text()) == {"private_db_credentials": []}
    text = files["db"].read_text()
    assert "&id" not in text and "*id" not in text  # no user shares another's budget
    database = yaml.safe_load(text)
    assert [u["user_name"] for u in database["users"]] == ["r0", "r1", "r2"]
    assert all(u["may_query"] and [set(g) for g in u["datasets_list"]] == [PEER_GRANT]
               for u in database["users"])
    for dataset in database["datasets"]:
        for access in ("dataset_access", "metadata_access"):
            assert dataset[access]["database_type"] == "PATH_DB"
            assert Path(dataset[access]["path"]).is_relative_to(tmp_path)
            assert Path(dataset[access]["path"]).is_file()


VALIDATE = """
import sys, yaml
from lomas_core.models.collections import DatasetsCollection, Metadata, UserCollection
from lomas_core.models.config import Config
settings = yaml.safe_load(open(sys.argv[1]))["runtime_args"]["settings"]
Config.model_validate({**settings, **yaml.safe_load(open(sys.argv[2]))})
db = yaml.safe_load(open(sys.argv[3]))
UserCollection.model_validate(db)
for d in DatasetsCollection.model_validate(db).datasets:
    Metadata.model_validate(yaml.safe_load(open(d.metadata_access.path)))
print("valid")
"""


def test_the_peers_config_validates_against_its_own_models(tmp_path: Path) -> None:
    setup, files = _peer_workdir(tmp_path, [300], users=2)
    python = setup.venv_dir() / "bin" / "python"  # type: ignore[attr-defined]
    if not (python.parent.parent / ".installed").exists():
        pytest.skip("the peer's virtualenv is not installed (python bench/peer.py --install-only)")
    done = subprocess.run([str(python), "-W", "ignore", "-c", VALIDATE, str(files["runtime"]),
                           str(files["secrets"]), str(files["db"])],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "valid", done.stderr[-2000:]


# A path that leaves the repository: its parent folder (where shared/ lay beside it), a
# folder above it, or a machine's absolute path.
OUTSIDE = re.compile(r"ROOT\.parent\b|parents\[[2-9]\]|\.\./|\"\.\.\"|shared/bench|peer_lomas"
                     r"|LOMAS_PEER_BENCH|\"shared\" / \"bench\"|[\"'](/work|/tmp|/root|/opt)/")


def test_the_bench_names_no_path_outside_the_repository() -> None:
    sources = sorted((ROOT / "bench").glob("*.py"))
    assert {p.name for p in sources} >= {"suite.py", "peer.py", "peer_setup.py", "peer_app.py"}
    found = [f"{p.name}:{n}: {line.strip()}" for p in sources
             for n, line in enumerate(p.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert found == []


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=False)


def test_a_bench_run_writes_outside_the_files_git_tracks() -> None:
    suite = _suite()
    import fits

    if _git("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        pytest.skip("not a git checkout")
    for parser in (suite.arguments(), fits.arguments()):
        out = parser.parse_args([]).out
        assert out.is_relative_to(ROOT)
        relative = out.relative_to(ROOT).as_posix()
        assert _git("ls-files", "--", relative).stdout == ""  # nothing tracked there
        assert _git("check-ignore", "-q", f"{relative}/latest.md").returncode == 0  # ignored
        assert parser.parse_args(["--record"]).out == ROOT / "bench" / "results"
