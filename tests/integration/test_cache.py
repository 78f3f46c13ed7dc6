"""Warm caches: an unchanged dataset is never reloaded; a changed one is picked up."""

from __future__ import annotations

import boto3
import pytest

from lomas import demo
from lomas.domain import Dataset, PrivacyCost, User
from lomas.engines import ENGINES
from lomas.services import querying
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlRequest
from lomas_contract.sources.s3 import S3Access
from tests.conftest import BUCKET, World
from tests.support.sources import parquet_bytes

SQL = ENGINES["smartnoise_sql"]

QUERY = "SELECT COUNT(*) AS n FROM cached"


def _count(world: World, key: str) -> float:
    req = SmartnoiseSqlRequest(dataset_name="cached", query_str=QUERY, epsilon=5.0, delta=1e-5)
    out = querying.run_query(world.ctx, User("alice"), SQL, req, key)
    return out["result"]["df"]["data"][0][0]


@pytest.fixture
def s3_dataset(world: World, moto_url: str) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.put_object(Bucket=BUCKET, Key="cached.parquet",
                  Body=parquet_bytes(demo.income_frame(2000, seed=1)))
    access = S3Access(bucket=BUCKET, key="cached.parquet", endpoint_url=moto_url,
                        region="us-east-1")
    world.store.create_dataset(Dataset("cached", access, demo.income_metadata(2000)))
    world.store.put_grant("alice", "cached", PrivacyCost(100.0, 1e-3))


def test_second_query_neither_loads_nor_builds_and_a_change_is_seen(
        world: World, moto_url: str, s3_dataset: None) -> None:
    stats = world.ctx.handles.stats
    assert abs(_count(world, "q1") - 2000) < 50
    dataset = world.store.get_dataset("cached")
    table = world.ctx.handles.open(dataset)
    assert stats.loads == 1
    assert abs(_count(world, "q2") - 2000) < 50
    assert stats.loads == 1  # counted, not timed
    assert world.ctx.handles.open(dataset) is table  # opened once per version

    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.put_object(Bucket=BUCKET, Key="cached.parquet",
                  Body=parquet_bytes(demo.income_frame(500, seed=2)))
    assert abs(_count(world, "q3") - 500) < 50
    assert stats.loads == 2
    assert world.ctx.handles.open(dataset) is not table


def test_the_cache_stays_within_its_byte_bound(world: World, moto_url: str,
                                               s3_dataset: None) -> None:
    from dataclasses import replace

    from lomas.sources.cache import HandleCache

    tables = HandleCache(world.ctx.sources, max_bytes=1)  # room for one table at most
    ctx = replace(world.ctx, handles=tables)
    req = SmartnoiseSqlRequest(dataset_name="cached", query_str=QUERY, epsilon=1.0, delta=1e-5)
    other = SmartnoiseSqlRequest(dataset_name="income", query_str="SELECT COUNT(*) AS n FROM df",
                                   epsilon=1.0, delta=1e-5)
    querying.run_query(ctx, User("alice"), SQL, req, None)
    querying.run_query(ctx, User("alice"), SQL, other, None)
    querying.run_query(ctx, User("alice"), SQL, req, None)
    assert tables.stats.evictions == 2 and tables.stats.loads == 3


def test_revalidation_interval_skips_the_version_check(world: World, s3_dataset: None) -> None:
    from lomas.sources.cache import HandleCache

    now = [0.0]

    class CountingLoader:
        def __init__(self) -> None:
            self.versions = 0

        def version(self, dataset):
            self.versions += 1
            return world.ctx.sources.version(dataset)

        def open(self, dataset):
            return world.ctx.sources.open(dataset)

    counting = CountingLoader()
    tables = HandleCache(counting, revalidate_seconds=60, clock=lambda: now[0])
    dataset = world.store.get_dataset("cached")
    tables.open(dataset)
    tables.open(dataset)
    assert counting.versions == 1
    now[0] = 61
    tables.open(dataset)
    assert counting.versions == 2 and tables.stats.loads == 1


def test_researcher_sees_no_location_when_the_object_is_gone(
        query_client, world: World, moto_url: str, s3_dataset: None, caplog) -> None:
    import json
    import logging

    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1").delete_object(
        Bucket=BUCKET, Key="cached.parquet")
    body = {"dataset_name": "cached", "query_str": QUERY, "epsilon": 1.0, "delta": 1e-5}
    with caplog.at_level(logging.ERROR):
        response = query_client.http.post(
            "/smartnoise_sql_query", body=json.dumps(body),
            headers={"Authorization": f"Bearer {world.token}", "Content-Type": "application/json"})
    assert response.status_code == 503
    assert response.json_body == {"type": "DatasetUnavailable",
                                  "message": "Dataset 'cached' is unavailable."}
    assert "cached.parquet" in caplog.text
    grant = world.store.get_grant("alice", "cached")
    assert grant is not None and grant.spent.epsilon == 0.0  # nothing read: refunded
