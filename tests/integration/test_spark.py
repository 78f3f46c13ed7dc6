"""Spark datasets in local mode: pushed down, the noise drawn once, checked by aggregates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import snsql

from lomas import demo
from lomas.domain import Dataset, PrivacyCost, User
from lomas.engines import ENGINES
from lomas.engines.smartnoise_sql.execution import snsql_metadata
from lomas.services import admin, querying
from lomas_contract import models as m
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlRequest
from lomas_contract.sources.spark import SparkAccess
from tests.conftest import World

SQL = ENGINES["smartnoise_sql"]
ALICE = User("alice")
ROWS = 20_000
META = demo.income_metadata(ROWS)


@pytest.fixture(scope="module")
def lake(spark_session: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The same rows as Parquet files and as a table of the session's catalog."""
    frame = demo.income_frame(ROWS, seed=8)
    path = tmp_path_factory.mktemp("lake") / "income"
    spark_session.createDataFrame(frame).repartition(4).write.parquet(str(path))
    spark_session.read.parquet(str(path)).createOrReplaceTempView("income_table")
    return {"path": f"file://{path}", "table": "income_table"}


@pytest.fixture
def spark_world(world: World, lake: dict[str, str]) -> World:
    for name, access in (("lake_files", SparkAccess(path=lake["path"])),
                         ("lake_table", SparkAccess(table=lake["table"]))):
        world.store.create_dataset(Dataset(name, access, META))
        world.store.put_grant("alice", name, PrivacyCost(100.0, 1e-2))
    return world


def sql(dataset: str, query: str) -> SmartnoiseSqlRequest:
    return SmartnoiseSqlRequest(dataset_name=dataset, query_str=query.format(t=dataset),
                                epsilon=1.0, delta=1e-5)


@pytest.mark.parametrize("dataset", ["lake_files", "lake_table"])
def test_a_query_runs_in_spark_and_costs_what_the_file_path_costs(
        spark_world: World, dataset: str) -> None:
    query = "SELECT COUNT(*) AS n, AVG(income) AS a FROM {t}"
    answer = querying.run_query(spark_world.ctx, ALICE, SQL, sql(dataset, query), dataset)
    local = querying.estimate_cost(spark_world.ctx, ALICE, SQL, sql("income", query))
    assert (answer["epsilon"], answer["delta"]) == (local.epsilon, local.delta)
    n, _ = answer["result"]["df"]["data"][0]
    assert abs(n - ROWS) < 100
    grouped = querying.run_query(spark_world.ctx, ALICE, SQL, sql(
        dataset, "SELECT region, COUNT(*) AS n FROM {t} GROUP BY region"), dataset + "-g")
    assert {row[0] for row in grouped["result"]["df"]["data"]} == set(demo.REGIONS)


def test_the_noise_is_drawn_once_on_the_driver(spark_world: World, spark_session: Any) -> None:
    """SmartNoise given the SparkSession returns a lazy DataFrame whose every read draws the
    noise again; through Lomas's connection it gets rows, and the answer is one draw."""
    from lomas.sources.spark.session import SparkConnection

    query = "SELECT COUNT(*) AS n FROM income_table"
    privacy = snsql.Privacy(epsilon=1.0, delta=1e-5)
    metadata = snsql_metadata("income_table", META)
    lazy = snsql.from_connection(spark_session, engine="spark", privacy=privacy,
                                 metadata=metadata).execute(query)
    draws = {lazy.collect()[0][0] for _ in range(8)}
    assert len(draws) > 1  # the trap: each read of the same answer is a new draw

    ours = snsql.from_connection(SparkConnection(spark_session, ""), engine="spark",
                                 privacy=privacy, metadata=metadata).execute(query)
    assert (isinstance(ours, list) and ours[0] == ["n"]) or ours[0] == ("n",)
    assert {ours[1][0] for _ in range(8)} == {ours[1][0]}
    answer = querying.run_query(spark_world.ctx, ALICE, SQL, sql("lake_table", query.replace(
        "income_table", "{t}")), "once")
    replay = querying.run_query(spark_world.ctx, ALICE, SQL, sql("lake_table", query.replace(
        "income_table", "{t}")), "once")
    assert replay == answer  # the archived answer, read again: the same draw


def test_check_reports_counts_against_the_metadata(spark_world: World) -> None:
    ok = admin.check_dataset(spark_world.ctx, "lake_files")
    assert (ok.rows, ok.problems) == (ROWS, [])
    wrong = META.model_dump()
    wrong["columns"]["age"]["upper"] = 40
    wrong["columns"]["sex"] = {"type": "int", "lower": 0, "upper": 1}
    wrong["columns"]["height"] = {"type": "float", "lower": 0, "upper": 3}
    wrong["columns"]["region"]["categories"] = wrong["columns"]["region"]["categories"][:-1]
    wrong["columns"]["region"]["cardinality"] -= 1
    access = spark_world.store.get_dataset("lake_table").access
    spark_world.store.create_dataset(Dataset("lake_wrong", access,
                                             m.DatasetMetadata.model_validate(wrong)))
    report = admin.check_dataset(spark_world.ctx, "lake_wrong")
    found = {(p.column, p.problem.split(":")[0].split(" (")[0]) for p in report.problems}
    assert found == {("age", "values outside the bounds"), ("region", "type"), ("sex", "type"),
                     ("height", "missing from the table")}
    gone = SparkAccess(path="file:///nonexistent/lomas")
    spark_world.store.create_dataset(Dataset("lake_gone", gone, META))
    assert admin.check_dataset(spark_world.ctx, "lake_gone").problems[0].problem.startswith(
        "cannot load")


def test_the_access_refuses_what_is_not_a_table_name_or_a_lake_path(tmp_path: Path) -> None:
    from pydantic import ValidationError

    for bad in ({"table": "income; DROP TABLE x"}, {"table": "a.b.c"}, {"path": "/etc/passwd"},
                {"path": "s3a://bucket/x`) UNION SELECT"}, {}, {"table": "t", "path": "s3a://b/k"}):
        with pytest.raises(ValidationError):
            SparkAccess(**bad)
