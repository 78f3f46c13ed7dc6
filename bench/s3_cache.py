"""Cold vs. warm query on a 1M-row Parquet dataset in S3 (moto's server on loopback).

Cold: the first query of a fresh function instance (fetch from S3, read the
Parquet file, check it, run on DuckDB). Warm: later queries (a HEAD to check the
ETag, then the query on the cached table). Through the whole HTTP stack.
Run: make bench-s3   (or: .venv/bin/python bench/s3_cache.py --rows 1000000 --runs 10)
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import boto3
from lomas import demo
from lomas.adapters.mongo import MongoStore
from lomas.adapters.mongo.embedded import EmbeddedStore
from lomas.config import Settings
from lomas.domain import Dataset, PrivacyCost, User
from lomas.services.tokens import hash_token, new_token
from lomas_client import Client
from lomas_client import models as m
from moto.server import ThreadedMotoServer

from functions.common.wiring import build_context
from functions.container.serve import create_wsgi, make_server

QUERY = "SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM income"
BUCKET = "lomas-bench"


def upload(url: str, rows: int) -> float:
    buffer = io.BytesIO()
    demo.income_frame(rows).to_parquet(buffer, index=False)
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="income.parquet", Body=buffer.getvalue())
    return len(buffer.getvalue()) / 1e6


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    megabytes = upload(url, args.rows)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(Path(tmp) / "s.sqlite") as embedded:
        store = MongoStore.connect(embedded.uri, "bench")
        access = m.S3Access(bucket=BUCKET, key="income.parquet", endpoint_url=url,
                            region="us-east-1")
        store.create_dataset(Dataset("income", access, demo.income_metadata(args.rows)))
        token = new_token()
        store.create_user(User("bench"), hash_token(token))
        store.put_grant("bench", "income", PrivacyCost(1e9, 0.5))
        ctx = build_context(Settings(state_dir=Path(tmp), mongodb_url="bench"), store=store)
        server = make_server(create_wsgi(ctx), ctx.settings, host="127.0.0.1", port=0,
                         threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        client = Client(f"http://127.0.0.1:{server.effective_port}", token, "income")

        def query() -> None:
            client.smartnoise_sql.query(QUERY, epsilon=1.0, delta=1e-5)

        cold = timed(query)
        warm = statistics.median(timed(query) for _ in range(args.runs))
        server.close()
    moto.stop()
    stats = ctx.tables.stats
    print(f"{args.rows:,} rows, Parquet {megabytes:.1f} MB on moto S3; query: {QUERY}")
    print(f"first query (cold): {cold:,.0f} ms")
    print(f"later queries (warm, median of {args.runs}): {warm:,.0f} ms")
    print(f"cold / warm: {cold / warm:.1f}x   (loads {stats.loads})")


if __name__ == "__main__":
    main()
