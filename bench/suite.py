"""The benchmark suite (`make bench`): latency, first query, cold start, throughput, memory,
and the published Lomas 0.4.1 on the same data and machine in the same run.

a. A charged SQL query end to end, on each store (the embedded SQLite store, the default,
   and MongoDB's stand-in, mongoeco), at each size, COUNT+AVG and GROUP BY: on the
   client's path (lomas_client -> HTTP job -> result; repeated, and new: a new epsilon
   each run, so its cost and noise scales are computed again) and on the direct path (one
   POST), against the same query on the engine directly (the floor: SmartNoise on a DuckDB
   table made once). The target (issue 17): the client's path within 1.5x the floor + 5 ms.
r. The store round trips of one charged query, per path and store, counted in process.
b. The first query on a new dataset version (load + prepare + answer) at the largest
   size, from local Parquet and from S3 (moto's server): the median of 3 new versions.
c. Cold start: the handler modules' import time, and process start to the first
   /health, budget and SQL answers.
d. Throughput: 1, 8 and 32 researchers (one user each) for T seconds on the smallest size,
   on each store (the target: 8 researchers at least 1.6x the throughput of 1, on SQLite).
e. Peak RSS of the server process after serving the largest size.
g.-i. The data sources (bench/backends.py): SQL over PostgreSQL and Spark against their
   floors, the first query on a new Parquet version against DuckDB's plain scan, peak RSS
   serving Parquet at the largest size and 10x it (--no-backends postgres,spark to skip).
f. The peer, lomas-server 0.4.1 from PyPI, by bench/peer.py on the same data and SQL
   (--no-peer to skip it, --peer-results FILE to reuse an earlier run of it); our figure /
   its figure for a, c, d and e.

Every figure is the median of repeated runs after a warm-up. Results go to
build/bench/<time>.json and build/bench/latest.md (not tracked: --record writes them to
bench/results/ instead, to keep a run), and the table is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backends
import peer as peer_driver
from common import outputs, stop

from lomas import demo
from lomas.adapters.mongo import MongoStore
from lomas.adapters.mongo.embedded import EmbeddedStore
from lomas.adapters.sqlite import SqliteStore
from lomas.config import Settings
from lomas.domain import Dataset, PrivacyCost, User
from lomas.services.tokens import hash_token, new_token
from lomas_client import Client
from lomas_contract import models as m
from lomas_contract.sources.local import LocalAccess
from lomas_contract.sources.s3 import S3Access

ROOT = Path(__file__).resolve().parents[1]
SEED = 7
QUERIES = {
    "count_avg": "SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM income",
    "group_by": "SELECT region, COUNT(*) AS n FROM income GROUP BY region",
}
EPSILON, DELTA = 1.0, 1e-5


def median_ms(fn: Callable[[], Any], runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def income_frame(rows: int) -> Any:
    """The rows every server of the bench reads, the peer's included."""
    return demo.income_frame(rows, seed=SEED)


def income_metadata(rows: int) -> m.DatasetMetadata:
    return demo.income_metadata(rows)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


STORES = ("sqlite", "mongoeco")
"""The stores a charged query is measured on: the embedded SQLite store (the default of
lomas-serve), and MongoDB's stand-in (a mongoeco wire server in this process)."""


@dataclass
class Lab:
    """One state store with income datasets at each size, researchers and grants."""

    root: Path
    name: str
    """Its SQLite store's folder under root, or its database on the MongoDB at uri."""
    store: Any
    tokens: list[str]
    uri: str | None = None

    @property
    def kind(self) -> str:
        return "sqlite" if self.uri is None else "mongoeco"

    @property
    def state_dir(self) -> Path:
        return self.root / self.name

    def store_env(self) -> dict[str, str]:
        if self.kind == "sqlite":
            return {"LOMAS_STORE": "sqlite"}
        return {"LOMAS_MONGODB_URL": str(self.uri), "LOMAS_MONGODB_DB": self.name}

    def env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOMAS_")}
        env.update(LOMAS_DATA_ROOT=str(self.root / "data"), LOMAS_STATE_DIR=str(self.state_dir),
                   LOMAS_PORT=str(port), LOMAS_QUERY_RATE="0", LOMAS_LOG_LEVEL="WARNING",
                   PYTHONPATH=str(ROOT), **self.store_env())
        return env

    def settings(self, **overrides: Any) -> Settings:
        """The settings its server would read from `env` (for the in-process rows)."""
        values = {k.removeprefix("LOMAS_").lower(): v for k, v in self.env(0).items()
                  if k.startswith("LOMAS_")}
        return Settings(**{**values, **overrides})


def make_lab(root: Path, sizes: list[int], researchers: int, uri: str | None = None) -> Lab:
    """A fresh store (SQLite, or a database of the MongoDB at `uri`) with the datasets,
    researchers and grants.

    Each measurement gets its own: an embedded store slows down as a collection grows
    (an insert checks its unique indexes by reading documents), so one store for the
    whole run would measure the store's history, not Lomas.
    """
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    name = f"bench{time.monotonic_ns() % 10**12}"
    store: Any
    if uri is None:
        store = SqliteStore.open(root / name / "lomas.sqlite3")
    else:
        store = MongoStore.connect(uri, name)
    tokens = [new_token() for _ in range(researchers)]
    for i, token in enumerate(tokens):
        store.create_user(User(f"r{i}"), hash_token(token))
    for rows in sizes:
        path = data / f"income_{rows}.parquet"
        if not path.exists():
            income_frame(rows).to_parquet(path, index=False)
        access = LocalAccess(path=f"income_{rows}.parquet")
        store.create_dataset(Dataset(f"income_{rows}", access, income_metadata(rows)))
        for i in range(researchers):
            store.put_grant(f"r{i}", f"income_{rows}", PrivacyCost(1e12, 0.9))
    return Lab(root, name, store, tokens, uri)


@contextlib.contextmanager
def server(lab: Lab, **env: str) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """`lomas-serve` in its own process; yields its URL, the process and its start time."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "functions.container.serve"], cwd=ROOT,
                               env={**lab.env(port), **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}", process, started
    finally:
        stop(process, 20)


def wait_health(url: str, timeout: float = 90) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):  # not up yet
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.01)
    raise RuntimeError("the server did not start")


def client(url: str, token: str, rows: int) -> Client:
    return Client(url, token, f"income_{rows}", progress=False)


def query_sql(name: str, rows: int) -> str:
    return QUERIES[name].replace("FROM income", f"FROM income_{rows}")


# ----------------------------------------------------------------------- a
def floor_ms(rows: int, query: str, runs: int) -> float:
    import snsql

    from lomas.data.duck import SqlTable
    from lomas.engines.smartnoise_sql.execution import snsql_metadata

    name = f"income_{rows}"
    table = SqlTable(income_frame(rows), name)
    reader = snsql.from_connection(table.connection, engine="postgres",
                                   privacy=snsql.Privacy(epsilon=EPSILON, delta=DELTA),
                                   metadata=snsql_metadata(name, income_metadata(rows)))
    return median_ms(lambda: reader.execute(query), runs, warmup=2)


def target_ms(floor: float) -> float:
    """Issue 17's target for a charged query on the client's path: 1.5x the floor + 5 ms."""
    return round(1.5 * floor + 5.0, 2)


def direct(url: str, token: str, rows: int) -> Callable[[str, float], Any]:
    """A charged query on the direct path: one POST, no job, no client library."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    dataset = f"income_{rows}"

    def run(sql: str, epsilon: float) -> Any:
        answer = session.post(f"{url}/smartnoise_sql_query", timeout=60, json={
            "dataset_name": dataset, "query_str": sql, "epsilon": epsilon, "delta": DELTA})
        answer.raise_for_status()
        return answer.json()

    return run


def latency(new_lab: Callable[[str], Lab], sizes: list[int], runs: int,
            runs_big: int) -> list[dict[str, Any]]:
    """Per store and size, each query on the client's path (repeated, and new: a new
    epsilon each time, so its cost and noise scales are computed again) and on the direct
    path, against the floor."""
    out, floors = [], {}
    for kind in STORES:
        for rows in sizes:
            lab = new_lab(kind)  # a fresh store each (see make_lab)
            with server(lab) as (url, _, _):
                wait_health(url)
                n = runs_big if rows >= 1_000_000 else runs
                researcher = client(url, lab.tokens[0], rows)
                post = direct(url, lab.tokens[0], rows)
                fresh = iter(range(1, 10**6))
                for name in QUERIES:
                    sql = query_sql(name, rows)
                    repeated = median_ms(lambda s=sql, r=researcher: r.smartnoise_sql.query(
                        s, epsilon=EPSILON, delta=DELTA), n, warmup=2)
                    new = median_ms(lambda s=sql, r=researcher, f=fresh: r.smartnoise_sql.query(
                        s, epsilon=EPSILON + next(f) * 1e-7, delta=DELTA), n)
                    straight = median_ms(lambda s=sql, p=post: p(s, EPSILON), n, warmup=2)
                    if (rows, name) not in floors:
                        floors[rows, name] = floor_ms(rows, sql, n)
                    floor = floors[rows, name]
                    row = {"store": kind, "rows": rows, "query": name, "repeated_ms": repeated,
                           "new_ms": new, "direct_ms": straight, "floor_ms": floor,
                           "repeated_over_floor": round(repeated / floor, 2),
                           "new_over_floor": round(new / floor, 2),
                           "target_ms": target_ms(floor)}
                    row["meets_target"] = repeated <= row["target_ms"]
                    out.append(row)
                    print(f"  a. {kind:<8} {rows:>8} {name:<9} client {repeated:7.1f} ms "
                          f"(new {new:7.1f})  direct {straight:7.1f} ms  floor {floor:7.1f} ms"
                          f"  target {row['target_ms']:.1f} ms", flush=True)
    return out


# ----------------------------------------------------------------------- r
def round_trips(new_lab: Callable[[str], Lab], rows: int) -> list[dict[str, Any]]:
    """The store round trips of one charged query (a researcher's third: its token cached),
    on each path and store, counted in process on a real server: calls into the SQLite
    store (each one transaction), commands on MongoDB's wire."""
    from functions.common.wiring import build_context
    from functions.container.serve import create_wsgi, make_server
    from lomas.testing.counting import Commands, Counting, count_trips, counted_mongo

    out = []
    for kind in STORES:
        lab = new_lab(kind)
        with contextlib.ExitStack() as stack:
            counter: Counting | Commands
            if kind == "sqlite":
                store = counter = Counting(lab.store)
            else:
                store, counter = counted_mongo(str(lab.uri), lab.name)
                stack.callback(store.close)
            port = free_port()
            settings = lab.settings(port=port, auth_cache_seconds=5)
            httpd = make_server(create_wsgi(build_context(settings, store=store)), settings)
            threading.Thread(target=httpd.run, daemon=True).start()
            stack.callback(httpd.close)
            url = f"http://127.0.0.1:{port}"
            wait_health(url)
            researcher = client(url, lab.tokens[0], rows)
            post = direct(url, lab.tokens[0], rows)
            sql = query_sql("count_avg", rows)
            paths = {"client": lambda r=researcher, s=sql: r.smartnoise_sql.query(
                s, epsilon=EPSILON, delta=DELTA), "direct": lambda p=post, s=sql: p(s, EPSILON)}
            for path, run in paths.items():
                calls = count_trips(counter, run)
                out.append({"store": kind, "path": path, "round_trips": len(calls),
                            "calls": calls})
                print(f"  r. {kind:<8} {path:<6} {len(calls)} store round trips", flush=True)
    return out


# ----------------------------------------------------------------------- b
FIRST_VERSIONS = 3


def first_queries(lab: Lab, rows: int, warm_rows: int,
                  versions: int = FIRST_VERSIONS) -> dict[str, Any]:
    """The first query on a dataset version nobody has queried (the process is warm), on
    `versions` new versions from each source: the median, and each."""
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
        s3.create_bucket(Bucket="bench")
        sources: dict[str, list[m.DatasetAccess]] = {"local_parquet": [], "s3": []}
        for i in range(versions):
            body = io.BytesIO()
            demo.income_frame(rows, seed=100 + i).to_parquet(body, index=False)
            s3.put_object(Bucket="bench", Key=f"income_{i}.parquet", Body=body.getvalue())
            sources["s3"].append(S3Access(
                bucket="bench", key=f"income_{i}.parquet", endpoint_url=endpoint,
                region="us-east-1", credentials_name="bench_s3"))
            fresh = lab.root / "data" / f"fresh_{rows}_{i}.parquet"
            demo.income_frame(rows, seed=200 + i).to_parquet(fresh, index=False)
            sources["local_parquet"].append(LocalAccess(path=fresh.name))
        for kind, accesses in sources.items():
            for i, access in enumerate(accesses):
                name = f"first_{kind}_{i}"
                lab.store.create_dataset(Dataset(name, access, demo.income_metadata(rows)))
                lab.store.put_grant("r0", name, PrivacyCost(1e12, 0.9))
        env = {"LOMAS_SECRETS_FILE": str(_s3_secret(lab.root))}
        result: dict[str, Any] = {"rows": rows, "versions": versions}
        with server(lab, **env) as (url, _, _):
            wait_health(url)
            warm = client(url, lab.tokens[0], warm_rows)  # imports done: only the data is new
            warm.smartnoise_sql.query(query_sql("count_avg", warm_rows), epsilon=EPSILON,
                                      delta=DELTA)
            for kind, accesses in sources.items():
                firsts, warms = [], []
                for i in range(len(accesses)):
                    name = f"first_{kind}_{i}"
                    researcher = Client(url, lab.tokens[0], name, progress=False)
                    sql = f"SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM {name}"
                    start = time.perf_counter()
                    researcher.smartnoise_sql.query(sql, epsilon=EPSILON, delta=DELTA)
                    firsts.append(round((time.perf_counter() - start) * 1000, 1))
                    warms.append(median_ms(lambda r=researcher, s=sql: r.smartnoise_sql.query(
                        s, epsilon=EPSILON, delta=DELTA), 5))
                result[f"{kind}_ms"] = statistics.median(firsts)
                result[f"{kind}_each_ms"] = firsts
                result[f"{kind}_warm_ms"] = statistics.median(warms)
                print(f"  b. first query, {kind}: {result[f'{kind}_ms']:.0f} ms (each "
                      f"{firsts}; warm {result[f'{kind}_warm_ms']:.0f} ms)", flush=True)
        return result
    finally:
        moto.stop()


def _s3_secret(root: Path) -> Path:
    path = root / "secrets.json"
    path.write_text(json.dumps({"bench_s3": {"aws_access_key_id": "bench",
                                             "aws_secret_access_key": "bench"}}))
    return path


# ----------------------------------------------------------------------- c
IMPORT = ("import time; t = time.perf_counter(); import functions.common.lambda_events; "
          "from functions.common.apps import load_app; load_app('query'); load_app('admin'); "
          "print(time.perf_counter() - t)")


def cold_start(lab: Lab, rows: int, runs: int) -> dict[str, Any]:
    imports = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", IMPORT], cwd=ROOT, env=lab.env(0),
                             capture_output=True, text=True, check=True)
        imports.append(float(out.stdout.strip().splitlines()[-1]))
    starts: dict[str, list[float]] = {"health_s": [], "budget_s": [], "sql_s": []}
    for _ in range(runs):
        with server(lab) as (url, _, started):
            wait_health(url)
            starts["health_s"].append(time.perf_counter() - started)
            researcher = client(url, lab.tokens[0], rows)
            researcher.get_remaining_budget()
            starts["budget_s"].append(time.perf_counter() - started)
            researcher.smartnoise_sql.query(query_sql("count_avg", rows), epsilon=EPSILON,
                                            delta=DELTA)
            starts["sql_s"].append(time.perf_counter() - started)
    result = {"import_s": round(statistics.median(imports), 3),
              **{k: round(statistics.median(v), 3) for k, v in starts.items()}}
    print(f"  c. cold start: imports {result['import_s']:.2f} s, start -> /health "
          f"{result['health_s']:.2f} s, budget {result['budget_s']:.2f} s, SQL "
          f"{result['sql_s']:.2f} s", flush=True)
    return result


# ----------------------------------------------------------------------- d, e
def throughput(lab: Lab, rows: int, seconds: float, threads: list[int]) -> list[dict[str, Any]]:
    out = []
    with server(lab, LOMAS_THREADS="16") as (url, _, _):
        wait_health(url)
        for count in threads:
            latencies: list[float] = []
            errors = [0]
            lock = threading.Lock()
            ready = threading.Barrier(count + 1)

            def work(i: int, latencies: list[float] = latencies, errors: list[int] = errors,
                     lock: threading.Lock = lock, ready: threading.Barrier = ready) -> None:
                researcher = client(url, lab.tokens[i], rows)
                sql = query_sql("count_avg", rows)
                researcher.smartnoise_sql.query(sql, epsilon=EPSILON, delta=DELTA)  # warm
                ready.wait()
                stop = time.perf_counter() + seconds
                while time.perf_counter() < stop:
                    start = time.perf_counter()
                    try:
                        researcher.smartnoise_sql.query(sql, epsilon=EPSILON, delta=DELTA)
                    except Exception:  # noqa: BLE001 - counted
                        with lock:
                            errors[0] += 1
                        continue
                    with lock:
                        latencies.append((time.perf_counter() - start) * 1000)

            elapsed = timed([threading.Thread(target=work, args=(i,)) for i in range(count)],
                            ready)
            latencies.sort()
            result = {"researchers": count, "seconds": round(elapsed, 1),
                      "rps": round(len(latencies) / elapsed, 2),
                      "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
                      "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1)
                      if latencies else None, "errors": errors[0]}
            out.append(result)
            print(f"  d. {lab.kind:<8} {count} researcher(s): {result['rps']:.1f} req/s, p50 "
                  f"{result['p50_ms']} ms, p99 {result['p99_ms']} ms, errors {errors[0]}",
                  flush=True)
    return out


def peak_rss_mib(pid: int) -> float:
    """The server's peak resident memory: the sum of each process's peak (VmHWM), the
    supervisor and its workers (LOMAS_WORKERS) alike, in MiB."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(c) for c in (task / "children").read_text().split()]
    total = 0
    for each in pids:
        with contextlib.suppress(FileNotFoundError):
            status = Path(f"/proc/{each}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmHWM"))
    return total / 1024


def peak_rss(lab: Lab, rows: int) -> dict[str, Any]:
    with server(lab) as (url, process, _):
        wait_health(url)
        researcher = client(url, lab.tokens[0], rows)
        for name in QUERIES:
            researcher.smartnoise_sql.query(query_sql(name, rows), epsilon=EPSILON, delta=DELTA)
        peak = peak_rss_mib(process.pid)
    result = {"rows": rows, "peak_rss_mib": round(peak, 1)}
    print(f"  e. peak RSS serving {rows} rows: {result['peak_rss_mib']:.0f} MiB", flush=True)
    return result


# ----------------------------------------------------------------------- f
def peer(sizes: list[int], runs: int, runs_big: int, seconds: float, threads: list[int],
         cold_runs: int, out: Path) -> dict[str, Any]:
    """bench/peer.py's run, also written to `out`; {"error": ...} when it could not run."""
    print("  f. the published Lomas 0.4.1 (bench/peer.py) ...", flush=True)
    try:
        results = peer_driver.run(sys.modules[__name__], sizes, runs, runs_big, seconds,
                                  threads, cold_runs)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        return {"error": f"bench/peer.py: {exc}"}
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def peer_figures(results: dict[str, Any]) -> dict[str, Any]:
    """The peer's figures for the table, from bench/peer.py's JSON or from the results of
    the script the earlier runs used (bench/results/peer-0.4.1-20261126.json)."""
    raw = results.get("raw", {})
    figures: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith("query_") and isinstance(value, dict) and "median_ms" in value:
            figures[key] = value["median_ms"]
    figures["first_answer_s"] = results.get("cold_start", {}).get("median_first_query_s")
    if "throughput" in results:
        figures.update({f"rps_{t['researchers']}": t["ok_rps"] for t in results["throughput"]})
    else:  # the earlier script's: one researcher, and 8 (one user each)
        figures["rps_1"] = results.get("sequential_1thread_patched", {}).get("ok_rps")
        figures["rps_8"] = results.get("throughput_distinct_users_patched", {}).get("ok_rps")
    rss = [v.get("VmHWM_MiB", 0) for v in results.get("rss", {}).values() if isinstance(v, dict)]
    figures["peak_rss_mib"] = max(rss) if rss else None
    return figures


# ----------------------------------------------------------------------- report
def ratio(ours: float | None, theirs: float | None) -> str:
    return f"{theirs / ours:.1f}x" if ours and theirs else "—"


def table(report: dict[str, Any]) -> str:
    peer_fig = report.get("peer_figures", {})
    lines = [f"Machine: {report['machine']['cores']} cores, load {report['machine']['load']}; "
             f"medians. Peer: {report.get('peer_status', '—')}.", "",
             "| a. SQL end to end | store | client (repeated) | client (new) | direct | floor "
             "| client / floor | target 1.5 x floor + 5 ms | Lomas 0.4.1 "
             "| faster than it (repeated · new) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["latency"]:
        theirs = peer_fig.get(f"query_{r['query']}_{r['rows']}")
        lines.append(f"| {r['query']} @ {r['rows']:,} | {r['store']} | {r['repeated_ms']:.1f} ms | "
                     f"{r['new_ms']:.1f} ms | {r['direct_ms']:.1f} ms | {r['floor_ms']:.1f} ms | "
                     f"{r['repeated_over_floor']:.2f} | {r['target_ms']:.1f} ms "
                     f"{'met' if r['meets_target'] else '**missed**'} | "
                     f"{f'{theirs:.0f} ms' if theirs else '—'} | "
                     f"{ratio(r['repeated_ms'], theirs)} · {ratio(r['new_ms'], theirs)} |")
    lines += ["", "| r. store round trips per charged query | client's path (job) | direct |",
              "|---|---|---|"]
    trips = {(t["store"], t["path"]): t["round_trips"] for t in report["round_trips"]}
    lines += [f"| {kind} | {trips.get((kind, 'client'), '—')} | "
              f"{trips.get((kind, 'direct'), '—')} |" for kind in STORES]
    b = report["first_query"]
    lines += ["", f"| b. first query on a new version (median of {b.get('versions', 1)}) "
              "| local Parquet | S3 (moto) |",
              "|---|---|---|",
              f"| {b['rows']:,} rows | {b['local_parquet_ms']:.0f} ms (then "
              f"{b['local_parquet_warm_ms']:.0f} ms) | {b['s3_ms']:.0f} ms (then "
              f"{b['s3_warm_ms']:.0f} ms) |"]
    c = report["cold_start"]
    lines += ["", "| c. cold start | ours | Lomas 0.4.1 | ratio |", "|---|---|---|---|",
              f"| handler modules' imports | {c['import_s']:.2f} s | | |",
              f"| start → /health | {c['health_s']:.2f} s | | |",
              f"| start → first budget | {c['budget_s']:.2f} s | | |",
              f"| start → first SQL answer | {c['sql_s']:.2f} s | "
              f"{peer_fig.get('first_answer_s') or '—'} s | "
              f"{ratio(c['sql_s'], peer_fig.get('first_answer_s'))} |"]
    lines += ["", "| d. throughput | store | req/s | over 1 researcher | p50 | p99 | errors "
              "| Lomas 0.4.1 req/s | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for t in report["throughput"]:
        theirs = peer_fig.get(f"rps_{t['researchers']}")
        mine = t["rps"]
        one = next((o["rps"] for o in report["throughput"]
                    if o["store"] == t["store"] and o["researchers"] == 1), None)
        lines.append(f"| {t['researchers']} researcher(s) | {t['store']} | {mine:.1f} | "
                     f"{f'{mine / one:.2f}x' if one else '—'} | {t['p50_ms']} ms | "
                     f"{t['p99_ms']} ms | {t['errors']} | {theirs or '—'} | "
                     f"{f'{mine / theirs:.1f}x' if theirs else '—'} |")
    e = report["peak_rss"]
    theirs = peer_fig.get("peak_rss_mib")
    lines += ["", "| e. peak RSS | ours | Lomas 0.4.1 | ours / its |", "|---|---|---|---|",
              f"| serving {e['rows']:,} rows | {e['peak_rss_mib']:.0f} MiB | "
              f"{f'{theirs:.0f} MiB' if theirs else '—'} | "
              f"{f'{e['peak_rss_mib'] / theirs:.2f}' if theirs else '—'} |"]
    if "sources" in report:
        fixed = next((r["repeated_ms"] - r["floor_ms"] for r in report["latency"]
                      if r["query"] == "count_avg" and r["store"] == "sqlite"), 0.0)
        lines += backends.table(report["sources"], fixed)
    return "\n".join(lines) + "\n"


def timed(pool: list[threading.Thread], ready: threading.Event) -> float:
    """Start the researchers' threads; once every one is warm (`ready`), the seconds until
    they all end."""
    for thread in pool:
        thread.start()
    ready.wait()
    begin = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - begin


def measurements(description: str | None) -> argparse.ArgumentParser:
    """The options every measured run takes (ours and the peer's): the same defaults."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,200000,1000000")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--runs-big", type=int, default=10)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", default="1,8,32")
    return parser


def arguments() -> argparse.ArgumentParser:
    parser = measurements(__doc__)
    parser.add_argument("--no-peer", action="store_true", help="skip the published Lomas")
    parser.add_argument("--peer-results", type=Path, default=None,
                        help="the peer's JSON of an earlier run (bench/peer.py's, or "
                        "bench/results/peer-0.4.1-20261126.json) instead of running it again")
    outputs(parser)
    parser.add_argument("--no-backends", default="", help="comma-separated: postgres, spark "
                        "(a backend this machine lacks); 'all' skips rows g-i")
    return parser


def peer_rows(args: argparse.Namespace, sizes: list[int], threads: list[int],
              stamp: str) -> dict[str, Any]:
    """The report's peer_status and peer_figures, as --no-peer and --peer-results say."""
    if args.no_peer:
        return {"peer_status": "skipped (--no-peer)"}
    if args.peer_results is not None:
        results = json.loads(args.peer_results.read_text())
        return {"peer_status": f"lomas-server 0.4.1, from {args.peer_results.name}",
                "peer_figures": peer_figures(results)}
    results = peer(sizes, args.runs, args.runs_big, args.seconds, threads, args.cold_runs,
                   args.out / f"{stamp}-peer.json")
    if "error" in results:
        return {"peer_status": results["error"]}
    return {"peer_status": "lomas-server 0.4.1, same run", "peer_figures": peer_figures(results)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = arguments().parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    report: dict[str, Any] = {
        "started": stamp, "config": {k: str(v) for k, v in vars(args).items()},
        "machine": {"cores": os.cpu_count(), "load": [round(x, 2) for x in os.getloadavg()],
                    "python": platform.python_version()}}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(Path(tmp) / "s.sqlite") as mongo:
        def new_lab(kind: str = "sqlite") -> Lab:
            return make_lab(Path(tmp), sizes, max(threads),
                            mongo.uri if kind == "mongoeco" else None)

        print(f"bench: sizes {sizes}, {args.runs} runs ({args.runs_big} at 1M+), medians",
              flush=True)
        report["latency"] = latency(new_lab, sizes, args.runs, args.runs_big)
        report["round_trips"] = round_trips(new_lab, sizes[0])
        report["first_query"] = first_queries(new_lab(), sizes[-1], sizes[0])
        report["cold_start"] = cold_start(new_lab(), sizes[0], args.cold_runs)
        report["throughput"] = [{"store": kind, **throughput(new_lab(kind), sizes[0],
                                                             args.seconds, [count])[0]}
                                for kind in STORES for count in threads]
        report["peak_rss"] = peak_rss(new_lab(), sizes[-1])
    if args.no_backends != "all":
        report["sources"] = backends.run(sys.modules[__name__], sizes, max(threads),
                                         args.runs_big,
                                         set(filter(None, args.no_backends.split(","))))
    report.update(peer_rows(args, sizes, threads, stamp))
    report["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    (args.out / f"{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = table(report)
    (args.out / "latest.md").write_text(markdown)
    print("\n" + markdown + f"\nwritten {args.out / f'{stamp}.json'} and latest.md", flush=True)
    return report


if __name__ == "__main__":
    main()
