"""Median latency of one SQL query through the HTTP API vs. snsql directly.

For the synthetic income table at 10k and 200k rows: the whole stack (client
-> waitress -> Chalice -> services -> mongoeco store -> warm snsql reader), for
a repeated query (its cost memoised) and for a never-seen one (a new epsilon
each run), and the floor: the same query on a SmartNoise reader built once,
in-process.
Run: make bench   (or: .venv/bin/python bench/sql_latency.py --runs 30)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import snsql
from lomas import demo
from lomas.adapters.mongo import MongoStore
from lomas.adapters.mongo.embedded import EmbeddedStore
from lomas.config import Settings
from lomas.domain import Dataset, PrivacyCost, User
from lomas.dp.smartnoise_sql import snsql_metadata
from lomas.dp.sql_table import SqlTable
from lomas.services.tokens import hash_token, new_token
from lomas_client import Client
from lomas_client import models as m

from functions.common.wiring import build_context
from functions.container.serve import create_wsgi, make_server

QUERY = "SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM income"


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up: loads the table and builds the reader once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_size(rows: int, runs: int, store: MongoStore,
               root: Path) -> tuple[float, float, float]:
    frame = demo.income_frame(rows)
    frame.to_csv(root / "income.csv", index=False)
    metadata = demo.income_metadata(rows)
    store.create_dataset(Dataset("income", m.LocalAccess(path="income.csv"), metadata))
    token = new_token()
    store.create_user(User("bench"), hash_token(token))
    store.put_grant("bench", "income", PrivacyCost(1e9, 0.5))
    settings = Settings(state_dir=root, data_root=root, mongodb_url="bench")
    ctx = build_context(settings, store=store)
    server = make_server(create_wsgi(ctx), ctx.settings, host="127.0.0.1", port=0,
                         threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    client = Client(f"http://127.0.0.1:{server.effective_port}", token, "income")
    http = median_ms(lambda: client.smartnoise_sql.query(QUERY, epsilon=1.0, delta=1e-5), runs)
    fresh = iter(range(1, 10_000))  # a new epsilon each time: never a memoised cost
    new = median_ms(lambda: client.smartnoise_sql.query(
        QUERY, epsilon=1.0 + next(fresh) * 1e-6, delta=1e-5), runs)
    server.close()

    table = SqlTable(frame, "income")
    reader = snsql.from_connection(table.connection, engine="postgres",
                                   privacy=snsql.Privacy(epsilon=1.0, delta=1e-5),
                                   metadata=snsql_metadata("income", metadata))
    direct = median_ms(lambda: reader.execute(QUERY), runs)
    return http, new, direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sizes", default="10000,200000")
    args = parser.parse_args()
    print(f"query: {QUERY}  (epsilon=1.0, delta=1e-5), {args.runs} runs, medians")
    print(f"{'rows':>8} {'HTTP, repeat':>13} {'HTTP, new query':>16} {'snsql direct':>13}"
          f" {'ratio repeat':>13} {'ratio new':>10}")
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(Path(tmp) / "s.sqlite") as embedded:
        for i, rows in enumerate(int(s) for s in args.sizes.split(",")):
            root = Path(tmp) / str(rows)
            root.mkdir()
            store = MongoStore.connect(embedded.uri, f"bench{i}")
            http, new, direct = bench_size(rows, args.runs, store, root)
            print(f"{rows:>8} {http:>10.1f} ms {new:>13.1f} ms {direct:>10.1f} ms"
                  f" {http / direct:>13.2f} {new / direct:>10.2f}")


if __name__ == "__main__":
    main()
