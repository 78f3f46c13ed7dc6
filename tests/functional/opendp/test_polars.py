"""OpenDP polars queries through HTTP: exact cost, results as tables, hostile plans."""

from __future__ import annotations

import json

import opendp.prelude as dp
import pandas as pd
import polars as pl
import pytest
from chalice.test import Client

from lomas import demo
from lomas_contract.engines.opendp import POLARS_KEY, polars_context, serialize_polars_query
from tests.conftest import World
from tests.functional.opendp.test_measurements import body, error, post, spent

META = demo.income_metadata(2000)


def context(delta: float | None = None):
    return polars_context(META, dp.loss_of(epsilon=1.0, delta=delta))


def count():
    return context().query().select(dp.len())


def mean():
    return context().query().select(pl.col("income").fill_null(0.0).dp.mean((0.0, 500000.0)))


def histogram():
    return context(1e-6).query().group_by("region").agg(dp.len())


@pytest.mark.parametrize("make", [count, mean, histogram])
def test_cost_is_what_opendp_maps_and_the_result_is_a_table(
        query_client: Client, world: World, make) -> None:
    query = make()
    expected = query.resolve().map(1)
    eps, delta = expected if isinstance(expected, tuple) else (expected, 0.0)
    payload = serialize_polars_query(query)
    cost = post(query_client, "/estimate_opendp_cost", body(payload), world.token)
    assert cost.status_code == 200, cost.body
    assert (cost.json_body["epsilon"], cost.json_body["delta"]) == (pytest.approx(eps),
                                                                    pytest.approx(delta))
    response = post(query_client, "/opendp_query", body(payload), world.token)
    assert response.status_code == 200, response.body
    frame = pd.DataFrame.from_dict(response.json_body["result"]["df"], orient="tight")
    assert spent(world) == (pytest.approx(eps), pytest.approx(delta))
    if make is count:
        assert abs(frame["len"][0] - 2000) < 30  # the private table, not the empty template
    if make is histogram:
        assert set(frame["region"]) <= set(demo.REGIONS) and len(frame) >= 1
    assert world.store.list_archives()[0].engine == "opendp"


def test_dummy_polars_query_is_free(query_client: Client, world: World) -> None:
    payload = serialize_polars_query(count())
    response = post(query_client, "/dummy_opendp_query",
                    body(payload, dummy_nb_rows=500, dummy_seed=2), world.token)
    assert response.status_code == 200, response.body
    frame = pd.DataFrame.from_dict(response.json_body["result"]["df"], orient="tight")
    assert abs(frame["len"][0] - 500) < 30
    assert spent(world) == (0.0, 0.0)


def _envelope(plan: dict) -> str:
    return json.dumps({POLARS_KEY: {"plan": plan, "global_scale": 1.0, "threshold": None,
                                    "output_measure": "MaxDivergence"}})


def _plan_of(query) -> dict:
    return json.loads(object.__getattribute__(query, "polars_plan").serialize(format="json"))


def hostile_plans(marker) -> dict[str, str]:
    good = _plan_of(count())
    udf = pl.LazyFrame(schema={"a": pl.Int64}).select(
        pl.col("a").map_batches(lambda s: (marker.write_text("udf ran"), s)[1]))
    other_lib = json.loads(json.dumps(good))
    other_lib["Select"]["expr"][0]["Function"]["function"]["FfiPlugin"]["lib"] = "/tmp/evil.so"
    other_symbol = json.loads(json.dumps(good))
    other_symbol["Select"]["expr"][0]["Function"]["function"]["FfiPlugin"]["symbol"] = "system"
    file_scan = json.loads(pl.scan_csv("/etc/passwd").select(pl.len()).serialize(format="json"))
    wrong_schema = _plan_of(polars_context(demo.income_metadata(10).model_copy(
        update={"columns": {"x": demo.income_metadata(10).columns["age"]}}),
        dp.loss_of(epsilon=1.0)).query().select(dp.len()))
    return {
        "python udf (pickled)": _envelope(json.loads(udf.serialize(format="json"))),
        "plugin from another library": _envelope(other_lib),
        "plugin symbol outside OpenDP": _envelope(other_symbol),
        "local file scan": _envelope(file_scan),
        "another table's schema": _envelope(wrong_schema),
        "binary lazyframe": json.dumps({POLARS_KEY: {"plan": {"__lazyframe__": "AAAA"},
                                                     "global_scale": 1.0, "threshold": None,
                                                     "output_measure": "MaxDivergence"}}),
        "unknown measure": json.dumps({POLARS_KEY: {"plan": good, "global_scale": 1.0,
                                                    "threshold": None, "output_measure": "Rényi"}}),
        "negative scale": json.dumps({POLARS_KEY: {"plan": good, "global_scale": -1.0,
                                                   "threshold": None,
                                                   "output_measure": "MaxDivergence"}}),
        "not a dp plan": _envelope(_plan_of_native()),
    }


def _plan_of_native() -> dict:
    schema = {n: t for n, t in zip(["region", "sex", "age", "education", "income"],
                                   [pl.String, pl.String, pl.Int64, pl.String, pl.Float64],
                                   strict=True)}
    return json.loads(pl.LazyFrame(schema=schema).select(pl.col("income").sum())
                      .serialize(format="json"))


@pytest.mark.parametrize("case", list(hostile_plans(__import__("pathlib").Path("/x"))))
def test_hostile_plans_are_refused_before_polars_reads_them(
        query_client: Client, world: World, tripwires, case: str) -> None:
    marker, connects = tripwires
    payload = hostile_plans(marker)[case]
    for path in ("/estimate_opendp_cost", "/opendp_query", "/dummy_opendp_query"):
        response = post(query_client, path, body(payload), world.token)
        assert error(response) == (400, "InvalidQuery"), (path, response.body)
    assert not marker.exists() and connects == []
    assert spent(world) == (0.0, 0.0)


def quantile():
    return context().query().select(
        pl.col("age").fill_null(18).dp.quantile(0.5, list(range(18, 91))))


def test_quantile_with_a_literal_series_runs(query_client: Client, world: World) -> None:
    payload = serialize_polars_query(quantile())
    response = post(query_client, "/opendp_query", body(payload), world.token)
    assert response.status_code == 200, response.body
    frame = pd.DataFrame.from_dict(response.json_body["result"]["df"], orient="tight")
    assert 18 <= frame["age"][0] <= 90


def test_a_series_literal_of_python_objects_is_refused(query_client, world: World) -> None:
    import io

    import pyarrow as pa

    plan = _plan_of(quantile())
    sink = io.BytesIO()
    field = pa.field("x", pa.binary(), metadata={b"ARROW:extension:name": b"polars.object"})
    table = pa.table({"x": pa.array([b"\x80\x04pickled"])}, schema=pa.schema([field]))
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    literal = plan["Select"]["expr"][0]["Function"]["input"]
    for node in literal:
        if "Literal" in node and "Series" in node["Literal"]:
            node["Literal"]["Series"] = list(sink.getvalue())
    response = post(query_client, "/opendp_query", body(_envelope(plan)), world.token)
    assert error(response) == (400, "InvalidQuery")
    assert "Series" in response.json_body["message"]
