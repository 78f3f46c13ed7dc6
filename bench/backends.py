"""The bench rows of the data sources (`make bench`, called by suite.py):

g. SQL end to end (lomas_client -> HTTP -> lomas-serve -> result) over PostgreSQL and
   over Spark (local[2]), each against the same exact aggregate query sent to that
   backend directly (its floor: the rewritten query SmartNoise sends, timed on a
   connection of our own).
h. The first query on a new Parquet version (open: check against the metadata, then
   answer) against DuckDB's plain scan of the same file (every column read, and the
   query's own aggregates): the median of 3 new versions.
i. Peak RSS of the server process serving the largest size and 10x it from Parquet.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from lomas import demo
from lomas.domain import Dataset, PrivacyCost
from lomas_client import Client
from lomas_contract.sources.local import LocalAccess
from lomas_contract.sources.postgres import PostgresAccess
from lomas_contract.sources.spark import SparkAccess

COUNT_AVG = "SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM {t}"
EPSILON, DELTA = 1.0, 1e-5
PG_URL = os.environ.get("LOMAS_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


def _secret(root: Path, **secrets: dict[str, str]) -> Path:
    path = root / "backend-secrets.json"
    path.write_text(json.dumps(secrets))
    return path


def _exact_query(rows: int, name: str) -> str:
    """The rewritten (exact) query SmartNoise sends for COUNT_AVG on the dataset."""
    import snsql

    from lomas.data.duck import no_data
    from lomas.engines.smartnoise_sql.execution import snsql_metadata

    private = snsql.from_connection(no_data(), engine="postgres",
                                    privacy=snsql.Privacy(epsilon=EPSILON, delta=DELTA),
                                    metadata=snsql_metadata(name, demo.income_metadata(rows)))
    subquery, _ = private._rewrite(COUNT_AVG.format(t=name))
    return private.reader.serializer.serialize(subquery)


def postgres_rows(suite: Any, lab: Any, rows: int, runs: int) -> dict[str, Any]:
    import psycopg

    from lomas.sources.postgres.session import aliases

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.lomas_bench")
        conn.execute("CREATE TABLE public.lomas_bench (region text, sex text, age bigint, "
                     "education text, income double precision)")
        with conn.cursor().copy("COPY public.lomas_bench FROM STDIN (FORMAT csv)") as copy:
            copy.write(demo.income_frame(rows, seed=7).to_csv(index=False, header=False))
        conn.execute("VACUUM (ANALYZE) public.lomas_bench")  # no autovacuum during the runs
    name = f"pg_{rows}"
    lab.store.create_dataset(Dataset(name, PostgresAccess(credentials_name="bench_pg",
                                                          table="public.lomas_bench"),
                                     demo.income_metadata(rows)))
    lab.store.put_grant("r0", name, PrivacyCost(1e12, 0.9))
    env = {"LOMAS_SECRETS_FILE": str(_secret(lab.root, bench_pg={"dsn": PG_URL}))}
    with suite.server(lab, **env) as (url, _, _):
        suite.wait_health(url)
        researcher = Client(url, lab.tokens[0], name, progress=False)
        sql = COUNT_AVG.format(t=name)
        ours = suite.median_ms(lambda: researcher.smartnoise_sql.query(
            sql, epsilon=EPSILON, delta=DELTA), runs, warmup=2)
    exact = aliases("public.lomas_bench", list(demo.income_metadata(rows).columns),
                    ["df", name]) + _exact_query(rows, name)
    with psycopg.connect(PG_URL) as conn:
        floor = suite.median_ms(lambda: conn.execute(exact).fetchall(), runs, warmup=2)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.lomas_bench")
    result = {"backend": "postgres", "rows": rows, "ms": ours, "floor_ms": floor}
    print(f"  g. postgres {rows:>8}: {ours:8.1f} ms, floor {floor:8.1f} ms", flush=True)
    return result


def spark_rows(suite: Any, lab: Any, rows: int, runs: int) -> dict[str, Any]:
    from lomas.sources.spark.session import SparkHandle, start

    path = lab.root / "data" / f"spark_{rows}.parquet"
    demo.income_frame(rows, seed=7).to_parquet(path, index=False)
    name = f"spark_{rows}"
    access = SparkAccess(path=f"file://{path}")
    lab.store.create_dataset(Dataset(name, access, demo.income_metadata(rows)))
    lab.store.put_grant("r0", name, PrivacyCost(1e12, 0.9))
    with suite.server(lab, LOMAS_SPARK_MASTER="local[2]") as (url, _, _):
        suite.wait_health(url)
        researcher = Client(url, lab.tokens[0], name, progress=False)
        sql = COUNT_AVG.format(t=name)
        ours = suite.median_ms(lambda: researcher.smartnoise_sql.query(
            sql, epsilon=EPSILON, delta=DELTA), runs, warmup=3)  # the first starts the JVM
    session = start("local[2]", {})
    handle = SparkHandle(session, access, name, list(demo.income_metadata(rows).columns))
    exact = _exact_query(rows, name)
    with handle.sql() as spark:  # the session stays: the process may have had it before
        floor = suite.median_ms(lambda: spark.connection.sql(exact), runs, warmup=3)
    result = {"backend": "spark", "rows": rows, "ms": ours, "floor_ms": floor}
    print(f"  g. spark    {rows:>8}: {ours:8.1f} ms, floor {floor:8.1f} ms", flush=True)
    return result


def first_parquet(suite: Any, lab: Any, rows: int, warm_rows: int,
                  versions: int = 3) -> dict[str, Any]:
    """First query on new versions through the server, and DuckDB's plain scans of each."""
    import duckdb

    paths = []
    for i in range(versions):
        path = lab.root / "data" / f"new_{rows}_{i}.parquet"
        demo.income_frame(rows, seed=300 + i).to_parquet(path, index=False)
        name = f"new_{rows}_{i}"
        lab.store.create_dataset(Dataset(name, LocalAccess(path=path.name),
                                         demo.income_metadata(rows)))
        lab.store.put_grant("r0", name, PrivacyCost(1e12, 0.9))
        paths.append((name, path))
    firsts = []
    with suite.server(lab) as (url, _, _):
        suite.wait_health(url)
        warm = suite.client(url, lab.tokens[0], warm_rows)
        warm.smartnoise_sql.query(suite.query_sql("count_avg", warm_rows), epsilon=EPSILON,
                                  delta=DELTA)
        for name, _ in paths:
            researcher = Client(url, lab.tokens[0], name, progress=False)
            start = time.perf_counter()
            researcher.smartnoise_sql.query(COUNT_AVG.format(t=name), epsilon=EPSILON,
                                            delta=DELTA)
            firsts.append((time.perf_counter() - start) * 1000)
    scans, aggregates = [], []
    for _, path in paths:
        source = f"read_parquet('{path}')"
        for into, sql in ((scans, f"SELECT * FROM {source}"),
                          (aggregates, f"SELECT COUNT(*), AVG(income) FROM {source}")):
            start = time.perf_counter()
            with duckdb.connect() as duck:
                duck.sql(sql).to_arrow_table()
            into.append((time.perf_counter() - start) * 1000)
    result = {"rows": rows, "versions": versions, "first_ms": round(statistics.median(firsts), 1),
              "each_ms": [round(f, 1) for f in firsts],
              "plain_scan_ms": round(statistics.median(scans), 1),
              "plain_aggregate_ms": round(statistics.median(aggregates), 1)}
    print(f"  h. first query on a new {rows} Parquet version: {result['first_ms']:.0f} ms; "
          f"DuckDB's plain scan {result['plain_scan_ms']:.0f} ms (its aggregate "
          f"{result['plain_aggregate_ms']:.0f} ms)", flush=True)
    return result


def rss_parquet(suite: Any, lab: Any, sizes: list[int]) -> list[dict[str, Any]]:
    out = []
    for rows in sizes:
        path = lab.root / "data" / f"rss_{rows}.parquet"
        if not path.exists():
            demo.income_frame(rows, seed=7).to_parquet(path, index=False)
        name = f"rss_{rows}"
        lab.store.create_dataset(Dataset(name, LocalAccess(path=path.name),
                                         demo.income_metadata(rows)))
        lab.store.put_grant("r0", name, PrivacyCost(1e12, 0.9))
        with suite.server(lab) as (url, process, _):
            suite.wait_health(url)
            researcher = Client(url, lab.tokens[0], name, progress=False)
            for query in suite.QUERIES.values():
                researcher.smartnoise_sql.query(query.replace("FROM income", f"FROM {name}"),
                                                epsilon=EPSILON, delta=DELTA)
            peak = suite.peak_rss_mib(process.pid)
        out.append({"rows": rows, "peak_rss_mib": round(peak, 1)})
        print(f"  i. peak RSS serving {rows} Parquet rows: {peak:.0f} MiB", flush=True)
    return out


def run(suite: Any, sizes: list[int], researchers: int, runs: int,
        skip: set[str]) -> dict[str, Any]:
    """Every row of this module; `skip`: postgres, spark (a backend this machine lacks).
    Each row on a fresh SQLite store of its own (see suite.make_lab)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        def new_lab() -> Any:
            return suite.make_lab(Path(tmp), sizes[:1], researchers)

        return _rows(suite, new_lab, sizes, runs, skip)


def _rows(suite: Any, new_lab: Any, sizes: list[int], runs: int,
          skip: set[str]) -> dict[str, Any]:
    big = sizes[-1]
    report: dict[str, Any] = {"backends": []}
    if "postgres" not in skip:
        report["backends"].append(postgres_rows(suite, new_lab(), big, runs))
    report["first_parquet"] = first_parquet(suite, new_lab(), big, sizes[0])
    report["rss_parquet"] = rss_parquet(suite, new_lab(), [big, big * 10])
    if "spark" not in skip:  # last: its floor's JVM stays in this process
        report["backends"].append(spark_rows(suite, new_lab(), big, runs))
    return report


def table(report: dict[str, Any], fixed_ms: float) -> list[str]:
    """The rows of this module, with their targets."""
    lines = ["", "| g. SQL end to end, pushed down | ours | floor (the exact query there) | "
             "ours / floor | target: 1.5 x floor + the in-place path's fixed cost |",
             "|---|---|---|---|---|"]
    for r in report.get("backends", []):
        target = 1.5 * r["floor_ms"] + fixed_ms
        lines.append(f"| {r['backend']} @ {r['rows']:,} | {r['ms']:.1f} ms | "
                     f"{r['floor_ms']:.1f} ms | {r['ms'] / r['floor_ms']:.2f} | "
                     f"{target:.1f} ms: {'met' if r['ms'] <= target else 'missed'} |")
    h = report["first_parquet"]
    lines += ["", f"| h. first query on a new Parquet version (median of {h['versions']}) | "
              "ours | DuckDB's plain scan (all columns) | its aggregate alone | ours / scan "
              "(target ≤ 2) |", "|---|---|---|---|---|",
              f"| {h['rows']:,} rows | {h['first_ms']:.0f} ms | {h['plain_scan_ms']:.0f} ms | "
              f"{h['plain_aggregate_ms']:.0f} ms | {h['first_ms'] / h['plain_scan_ms']:.2f} |"]
    rss = report["rss_parquet"]
    lines += ["", "| i. peak RSS serving Parquet | MiB | / smallest (target ≤ 1.5) |",
              "|---|---|---|"]
    for r in rss:
        lines.append(f"| {r['rows']:,} rows | {r['peak_rss_mib']:.0f} | "
                     f"{r['peak_rss_mib'] / rss[0]['peak_rss_mib']:.2f} |")
    return lines
