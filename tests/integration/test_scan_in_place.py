"""Files scanned where they lie: Parquet on S3 (moto) and on disk, CSV made into Parquet once."""

from __future__ import annotations

import gc
import io
from pathlib import Path

import boto3
import pandas as pd
import pytest

from lomas import demo
from lomas.data.scan import ScanHandle
from lomas.domain import Dataset, PrivacyCost, User
from lomas.engines import ENGINES
from lomas.errors import DatasetUnavailable
from lomas.services import admin, querying
from lomas.sources.cache import HandleCache
from lomas_contract.engines.opendp import OpenDPRequest, polars_context
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlRequest
from lomas_contract.sources.local import LocalAccess
from lomas_contract.sources.s3 import S3Access
from tests.conftest import BUCKET, World

ROWS = 100_000
EXACT = ("SELECT COUNT(*), SUM(age), SUM(income), COUNT(DISTINCT region), "
         "SUM(CASE WHEN sex = 'F' THEN 1 ELSE 0 END) FROM df")


def _truth(frame: pd.DataFrame) -> tuple:
    return (len(frame), int(frame.age.sum()), frame.income.sum(), frame.region.nunique(),
            int((frame.sex == "F").sum()))


def _exact(handle: ScanHandle) -> tuple:
    with handle.sql() as session:
        cursor = session.connection.cursor()
        cursor.execute(EXACT)
        return next(iter(cursor))


def test_a_multi_row_group_object_on_s3_gives_every_answer_exactly(moto_url: str,
                                                                    world: World) -> None:
    """pyarrow's S3 reads under DuckDB's threads: 30 scans of a 20-row-group object, each
    checked against the data (fsspec handles were seen to return short or corrupt reads)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = demo.income_frame(ROWS, seed=5)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame), buffer, row_group_size=ROWS // 20)
    assert pq.ParquetFile(io.BytesIO(buffer.getvalue())).num_row_groups == 20
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1").put_object(
        Bucket=BUCKET, Key="groups.parquet", Body=buffer.getvalue())
    access = S3Access(bucket=BUCKET, key="groups.parquet", endpoint_url=moto_url,
                      region="us-east-1")
    handle = world.ctx.sources.open(Dataset("groups", access, demo.income_metadata(ROWS)))
    assert isinstance(handle, ScanHandle) and handle.size == 0  # nothing read into memory
    count, ages, incomes, regions, women = _truth(frame)
    for _ in range(30):
        got = _exact(handle)
        assert got[:2] == (count, ages) and got[3:] == (regions, women)
        assert got[2] == pytest.approx(incomes, rel=1e-12)
    polars = handle.lazy().select("age").sum().collect().item()
    assert polars == ages
    handle.close()


def test_a_local_parquet_file_is_scanned_in_place_and_nothing_else_is_readable(
        tmp_path: Path, world: World) -> None:
    data = world.ctx.settings.resolved_data_root
    frame = demo.income_frame(5_000, seed=2)
    frame.to_parquet(data / "inplace.parquet")
    (data / "other.csv").write_text("secret\n1\n")
    dataset = Dataset("inplace", LocalAccess(path="inplace.parquet"), demo.income_metadata(5_000))
    handle = world.ctx.sources.open(dataset)
    assert isinstance(handle, ScanHandle) and handle.size == 0
    assert _exact(handle)[:2] == _truth(frame)[:2]
    cursor = handle.connection.cursor()
    for sneaky in (f"SELECT * FROM read_csv('{data / 'other.csv'}')",
                   "SET enable_external_access = true", "INSTALL httpfs"):
        with pytest.raises(Exception, match=r"(?i)permission|disabled|lock|configuration"):
            cursor.execute(sneaky)
    handle.close()


def test_a_csv_is_made_into_parquet_once_per_version_and_the_copy_goes_with_it(
        world: World) -> None:
    cache = HandleCache(world.ctx.sources)
    dataset = world.store.get_dataset("income")  # a CSV under the data root
    first = cache.open(dataset)
    assert isinstance(first, ScanHandle) and first.size > 0
    copy = first._path
    assert copy is not None and copy.suffix == ".parquet" and copy.exists()
    assert cache.open(dataset) is first  # the same version: not made again
    csv = world.ctx.settings.resolved_data_root / "income.csv"
    demo.income_frame(700, seed=9).to_csv(csv, index=False)
    second = cache.open(dataset)
    assert second is not first and _exact(second)[0] == 700
    assert copy.exists()  # kept while a query may still run on the former version
    del first
    gc.collect()
    assert not copy.exists()  # then deleted
    cache.forget("income")
    newer = second._path
    del second
    gc.collect()
    assert newer is not None and not newer.exists()


def test_values_that_do_not_fit_are_refused_and_counted_by_check(world: World) -> None:
    data = world.ctx.settings.resolved_data_root
    frame = demo.income_frame(300, seed=4).astype({"age": object})
    frame.loc[[3, 7], "age"] = "old"
    frame.loc[[5], "region"] = "Atlantis"
    frame.to_csv(data / "bad.csv", index=False)
    dataset = Dataset("bad", LocalAccess(path="bad.csv"), demo.income_metadata(300))
    world.store.create_dataset(dataset)
    with pytest.raises(DatasetUnavailable):
        world.ctx.sources.open(dataset)
    report = admin.check_dataset(world.ctx, "bad")
    assert "column 'age': 2 values are not int" in report.problems[0].problem
    frame.loc[[3, 7], "age"] = 40
    frame.to_csv(data / "bad.csv", index=False)
    with pytest.raises(DatasetUnavailable):  # a region outside the categories
        world.ctx.sources.open(dataset)
    problems = {p.column: (p.problem, p.rows) for p in admin.check_dataset(world.ctx,
                                                                           "bad").problems}
    assert problems == {"region": ("type: values outside the categories", 1)}


def test_sql_and_an_opendp_polars_query_run_on_the_same_parquet_file(world: World) -> None:
    import opendp.prelude as dp

    from lomas_client.opendp import OpenDPClient

    data = world.ctx.settings.resolved_data_root
    metadata = demo.income_metadata(5_000)
    demo.income_frame(5_000, seed=6).to_parquet(data / "lake.parquet")
    world.store.create_dataset(Dataset("lake", LocalAccess(path="lake.parquet"), metadata))
    world.store.put_grant("alice", "lake", PrivacyCost(10.0, 1e-3))
    sql = SmartnoiseSqlRequest(dataset_name="lake", query_str="SELECT COUNT(*) AS n FROM lake",
                               epsilon=1.0, delta=1e-5)
    answer = querying.run_query(world.ctx, User("alice"), ENGINES["smartnoise_sql"], sql, "s")
    assert abs(answer["result"]["df"]["data"][0][0] - 5_000) < 100
    context = polars_context(metadata, dp.loss_of(epsilon=1.0))
    query = OpenDPClient.serialize(context.query().select(dp.len()))
    released = querying.run_query(world.ctx, User("alice"), ENGINES["opendp"],
                                  OpenDPRequest(dataset_name="lake", opendp_json=query), "o")
    assert abs(released["result"]["df"]["data"][0][0] - 5_000) < 100
    assert isinstance(world.ctx.handles.open(world.store.get_dataset("lake")), ScanHandle)


INJECTION = ("SELECT COUNT(*) AS n FROM df WHERE region = 'a\\' ) AS per_key_all HAVING 1=0 "
             "UNION ALL SELECT MAX(age) * 1000 FROM df --'")


def test_a_backslash_quote_cannot_end_a_string_and_inject_sql(world: World) -> None:
    """SmartNoise reads \\' as an escaped quote, DuckDB and PostgreSQL as the string's end:
    the rest would run unclamped. Refused when costing, before anything is charged."""
    from lomas.errors import InvalidQuery

    req = SmartnoiseSqlRequest(dataset_name="income", query_str=INJECTION, epsilon=1.0,
                               delta=1e-5)
    for call in (querying.estimate_cost, lambda *a: querying.run_query(*a, "inject")):
        with pytest.raises(InvalidQuery, match="Backslashes are not allowed"):
            call(world.ctx, User("alice"), ENGINES["smartnoise_sql"], req)
    assert world.store.get_grant("alice", "income").spent == PrivacyCost(0.0, 0.0)


def test_a_failure_on_private_data_quotes_none_of_its_values(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """A cast that the dummy data survives but a private value does not: charged, failed,
    and neither the answer, the archive nor the log quotes the value."""
    from lomas.errors import ExternalLibraryError
    from tests.support.data import codes_dataset

    codes_dataset(world, "names", ["7"] * 300 + ["Alice Secret"])
    req = SmartnoiseSqlRequest(dataset_name="names", epsilon=1.0, delta=1e-5,
                               query_str="SELECT COUNT(*) AS n FROM names "
                                         "WHERE CAST(code AS INTEGER) > 3")
    with pytest.raises(ExternalLibraryError) as failed:
        querying.run_query(world.ctx, User("alice"), ENGINES["smartnoise_sql"], req, "n1")
    [record] = world.store.list_archives(user="alice", dataset="names")
    assert record.status == "failed" and world.store.get_grant("alice", "names").spent.epsilon > 0
    for text in (failed.value.message, repr(record), caplog.text):
        assert "Alice" not in text
