"""The benchmark suite runs end to end on tiny datasets (what it measures is not asserted:
benchmarks are not timed tests), and reads the peer's results as its bench writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
