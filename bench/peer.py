"""The peer of `make bench` (row f): the published Lomas, lomas-server 0.4.1 from PyPI.

    python bench/peer.py [--sizes 10000] [--runs 5] [--seconds 5] [--threads 1,8] [--out F]

It installs the peer in a virtualenv of its own (LOMAS_PEER_DIR, default .venv-peer/ in
the repository; Python 3.11 or 3.12, LOMAS_PEER_PYTHON to name one), writes the datasets
of suite.py (the same rows, as CSV, and their metadata) and a YAML admin database (no
MongoDB), serves them with uvicorn on a free loopback port and sends suite.py's SQL
over plain HTTP: latency of each query at each size, start to first answer, throughput
of N researchers (one user each), and the server's peak RSS; then stops it. The JSON it
writes is what suite.peer_figures reads. The setup is in peer_setup.py.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from common import RESULTS
from peer_setup import (
    PEER_VERSION,
    Peer,
    ensure_venv,
    peer_sql,
    query_body,
    researchers,
    serve,
    versions,
    write_workdir,
)


def latency(suite: Any, peer: Peer, sizes: list[int], runs: int,
            runs_big: int) -> dict[str, Any]:
    """Each query at each size, one researcher on a kept-alive connection (as the direct
    path of suite.py's row a)."""
    session, out = requests.Session(), {}
    for rows in sizes:
        n = runs_big if rows >= 1_000_000 else runs
        for name in suite.QUERIES:
            body = query_body(peer_sql(suite, name), rows, suite.EPSILON, suite.DELTA)
            median = suite.median_ms(lambda b=body: peer.post(
                session, "r0", "smartnoise_sql_query", b), n, warmup=1 if n < runs else 2)
            out[f"query_{name}_{rows}"] = {"median_ms": median, "runs": n}
            print(f"  f. peer {rows:>8} {name:<9} {median:8.1f} ms", flush=True)
    return out


def first_answer(suite: Any, python: Path, files: dict[str, Path], rows: int,
                 runs: int) -> dict[str, Any]:
    """A new server process each run: start to LIVE, and to its first SQL answer."""
    ready, first = [], []
    body = query_body(peer_sql(suite, "count_avg"), rows, suite.EPSILON, suite.DELTA)
    for _ in range(runs):
        with serve(python, files, suite.free_port()) as peer:
            ready.append(peer.wait_live())
            peer.post(requests.Session(), "r0", "smartnoise_sql_query", body)
            first.append(time.perf_counter() - peer.started)
    result = {"runs": runs, "median_ready_s": round(statistics.median(ready), 3),
              "median_first_query_s": round(statistics.median(first), 3)}
    print(f"  f. peer start -> live {result['median_ready_s']:.2f} s, first SQL answer "
          f"{result['median_first_query_s']:.2f} s", flush=True)
    return result


def throughput(suite: Any, peer: Peer, rows: int, seconds: float,
               count: int) -> dict[str, Any]:
    """`count` researchers (one user each: 0.4.1 refuses a user's concurrent queries),
    each on its own connection, for `seconds` after each one's first answer (taken one
    after the other, so a refusal stops the run here rather than in a thread)."""
    body = query_body(peer_sql(suite, "count_avg"), rows, suite.EPSILON, suite.DELTA)
    sessions = {user: requests.Session() for user in researchers(count)}
    for user, session in sessions.items():
        peer.post(session, user, "smartnoise_sql_query", body)
    latencies: list[float] = []
    codes: dict[str, int] = {}
    lock, ready = threading.Lock(), threading.Barrier(count + 1)

    def work(user: str) -> None:
        session = sessions[user]
        ready.wait()
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                code = str(session.post(f"{peer.url}/smartnoise_sql_query", json=body,
                                        headers={"user-name": user}, timeout=600).status_code)
            except requests.RequestException as exc:
                code = type(exc).__name__
            with lock:
                codes[code] = codes.get(code, 0) + 1
                if code == "200":
                    latencies.append((time.perf_counter() - start) * 1000)

    elapsed = suite.timed([threading.Thread(target=work, args=(user,)) for user in sessions],
                          ready)
    latencies.sort()
    result = {"researchers": count, "seconds": round(elapsed, 1),
              "ok_rps": round(len(latencies) / elapsed, 2), "status_counts": codes,
              "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
              "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1)
              if latencies else None}
    print(f"  f. peer {count} researcher(s): {result['ok_rps']:.2f} req/s, p50 "
          f"{result['p50_ms']} ms, answers {codes}", flush=True)
    return result


def run(suite: Any, sizes: list[int], runs: int, runs_big: int, seconds: float,
        threads: list[int], cold_runs: int) -> dict[str, Any]:
    """Every figure of the peer, in the shape suite.peer_figures reads."""
    python, install_s = ensure_venv()
    report: dict[str, Any] = {
        "peer": f"lomas-server {PEER_VERSION}", "driver": "bench/peer.py",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "install_s": install_s,
        "config": {"sizes": sizes, "runs": runs, "runs_big": runs_big, "seconds": seconds,
                   "threads": threads, "cold_runs": cold_runs},
        "versions": versions(python),
        "machine": {"cores": os.cpu_count(), "load": [round(x, 2) for x in os.getloadavg()]}}
    with tempfile.TemporaryDirectory(prefix="lomas-peer-") as tmp:
        port = suite.free_port()
        files = write_workdir(suite, Path(tmp), sizes, max(threads), port)
        report["cold_start"] = first_answer(suite, python, files, sizes[0], cold_runs)
        with serve(python, files, port) as peer:
            peer.wait_live()
            report["raw"] = latency(suite, peer, sizes, runs, runs_big)
            report["rss"] = {"after_all_sizes": {
                "VmHWM_MiB": round(suite.peak_rss_mib(peer.process.pid), 1)}}
            report["throughput"] = [throughput(suite, peer, sizes[0], seconds, count)
                                    for count in threads]
            report["rss"]["end"] = {"VmHWM_MiB": round(suite.peak_rss_mib(peer.process.pid), 1)}
    report["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import suite

    parser = suite.measurements(__doc__)
    parser.add_argument("--out", type=Path, default=None,
                        help="its JSON (default: build/bench/peer-<time>.json)")
    parser.add_argument("--install-only", action="store_true",
                        help="only make its virtualenv")
    args = parser.parse_args(argv)
    if args.install_only:
        python, seconds = ensure_venv()
        print(f"the peer's python: {python} (installed in {seconds} s)")
        return {"python": str(python), "install_s": seconds}
    report = run(suite, [int(s) for s in args.sizes.split(",")], args.runs, args.runs_big,
                 args.seconds, [int(t) for t in args.threads.split(",")], args.cold_runs)
    out = args.out or RESULTS / f"peer-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(suite.peer_figures(report)), f"\nwritten {out}")
    return report


if __name__ == "__main__":
    main()
