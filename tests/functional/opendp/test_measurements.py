"""OpenDP Measurement queries through HTTP: exact cost, charges, and hostile payloads."""

from __future__ import annotations

import base64
import json
import socket
import sys
import warnings
from pathlib import Path

import opendp.prelude as dp
import polars as pl
import pytest
from chalice.test import Client

from tests.conftest import World
from tests.functional.opendp.conftest import LIMIT
from tests.functional.test_query_api import error, post

dp.enable_features("contrib")
COLUMNS = ["region", "sex", "age", "education", "income"]


def split():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return dp.t.make_split_dataframe(",", col_names=COLUMNS)


def count():
    return split() >> dp.t.make_select_column("region", str) >> dp.t.then_count() \
        >> dp.m.then_laplace(2.0)


def mean():
    return (split() >> dp.t.make_select_column("income", str) >> dp.t.then_cast(float)
            >> dp.t.then_impute_constant(0.0) >> dp.t.then_clamp((0.0, 500000.0))
            >> dp.t.then_resize(2000, 50000.0) >> dp.t.then_mean() >> dp.m.then_laplace(500.0))


def histogram():
    # OpenDP 0.14.2 cannot serialize count_by_categories >> laplace (its L1Distance<i32>
    # metric has no JSON form), so a histogram is a composition of per-category counts.
    def category(name: str):
        return (split() >> dp.t.make_select_column("region", str) >> dp.t.then_is_equal(name)
                >> dp.t.then_cast_default(int) >> dp.t.then_clamp((0, 1)) >> dp.t.then_sum()
                >> dp.m.then_laplace(1.0))

    return dp.c.make_composition([category(c) for c in ("Bern", "Vaud", "Zurich")])


def gaussian_sum():
    return (split() >> dp.t.make_select_column("age", str) >> dp.t.then_cast_default(int)
            >> dp.t.then_clamp((18, 90)) >> dp.t.then_sum() >> dp.m.then_gaussian(200.0))


def body(pipeline, **extra) -> dict:
    text = pipeline if isinstance(pipeline, str) else dp.serialize(pipeline)
    return {"dataset_name": "income", "opendp_json": text, **extra}


def spent(world: World) -> tuple[float, float]:
    grant = world.store.get_grant("alice", "income")
    return grant.spent.epsilon, grant.spent.delta


@pytest.mark.parametrize("make", [count, mean, histogram])
def test_pure_dp_cost_is_what_opendp_maps(query_client: Client, world: World, make) -> None:
    pipeline = make()
    expected = pipeline.map(1)
    cost = post(query_client, "/estimate_opendp_cost", body(pipeline), world.token).json_body
    assert (cost["epsilon"], cost["delta"]) == (pytest.approx(expected), 0.0)
    response = post(query_client, "/opendp_query", body(pipeline), world.token)
    assert response.status_code == 200, response.body
    out = response.json_body
    assert out["result"]["type"] == "opendp" and out["epsilon"] == pytest.approx(expected)
    assert spent(world) == (pytest.approx(expected), 0.0)
    [record] = world.store.list_archives(user="alice")
    assert record.engine == "opendp" and record.cost.epsilon == pytest.approx(expected)
    value = out["result"]["value"]
    if make is histogram:
        assert isinstance(value, list) and len(value) == 3
    else:
        assert isinstance(value, int | float)


def test_zcdp_needs_fixed_delta_and_is_charged_at_it(query_client, world: World) -> None:
    pipeline = gaussian_sum()
    missing = post(query_client, "/estimate_opendp_cost", body(pipeline), world.token)
    assert error(missing) == (400, "InvalidQuery")
    expected = dp.c.make_zCDP_to_approxDP(pipeline).map(1).epsilon(1e-5)
    response = post(query_client, "/opendp_query", body(pipeline, fixed_delta=1e-5), world.token)
    assert response.status_code == 200, response.body
    assert spent(world) == (pytest.approx(expected), pytest.approx(1e-5))


def test_dummy_runs_are_free(query_client: Client, world: World) -> None:
    response = post(query_client, "/dummy_opendp_query",
                    body(mean(), dummy_nb_rows=300, dummy_seed=1), world.token)
    assert response.status_code == 200, response.body
    assert spent(world) == (0.0, 0.0) and world.store.list_archives() == []
    assert world.ctx.handles.stats.loads == 0


def test_same_key_is_charged_once(query_client: Client, world: World) -> None:
    key = {"Idempotency-Key": "odp-1"}
    first = post(query_client, "/opendp_query", body(count()), world.token, key)
    again = post(query_client, "/opendp_query", body(count()), world.token, key)
    assert first.json_body == again.json_body
    assert spent(world)[0] == pytest.approx(count().map(1))


# --------------------------------------------------------------- hostile payloads ---
def _lazyframe(lf: pl.LazyFrame) -> dict:
    return {"__lazyframe__": base64.b64encode(lf.serialize()).decode(), "__version__": "0.14.2"}


def _hostile(marker: Path) -> dict[str, object]:
    udf = pl.LazyFrame({"a": [1]}).select(
        pl.col("a").map_batches(lambda s: Path(marker).write_text("udf ran") and s))
    legit = json.loads(dp.serialize(count()))
    smuggled = json.loads(json.dumps(legit))
    smuggled["__kwargs__"]["measurement1"]["__kwargs__"]["scale"] = {
        "__function__": "import_optional_dependency", "__module__": "_lib",
        "__kwargs__": {"name": "lomas_evil_marker"}}
    nested: object = 1
    for _ in range(500):
        nested = [nested]
    return {
        "module import via a core helper": {"__function__": "import_optional_dependency",
                                            "__module__": "_lib",
                                            "__kwargs__": {"name": "lomas_evil_marker"}},
        "module import smuggled inside a valid pipeline": smuggled,
        "outbound fetch via an examples helper": {
            "__function__": "_http_get", "__module__": "extras.examples",
            "__kwargs__": {"url": "http://127.0.0.1:9/exfiltrate"}},
        "polars plan with a pickled python udf": _lazyframe(udf),
        "polars plan scanning a local file": _lazyframe(pl.scan_csv("/etc/passwd")),
        "polars expression": {"__expr__": base64.b64encode(
            pl.col("a").map_batches(lambda s: s).meta.serialize()).decode()},
        "user-defined transformation": {"__function__": "make_user_transformation",
                                        "__module__": "transformations", "__kwargs__": {}},
        "private attribute": {"__function__": "__class__", "__module__": "transformations"},
        "dotted module": {"__function__": "system", "__module__": "os",
                          "__kwargs__": {"command": "touch /tmp/x"}},
        "deeply nested": nested,
        "mismatched input domain": json.loads(dp.serialize(
            (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance())
            >> dp.t.then_clamp((0.0, 1.0)) >> dp.t.then_sum() >> dp.m.then_laplace(1.0))),
        "wrong column names": json.loads(dp.serialize(
            dp.t.make_split_dataframe(",", col_names=["a", "b"]) >> dp.t.make_select_column(
                "a", str) >> dp.t.then_count() >> dp.m.then_laplace(1.0))),
        "not a measurement": json.loads(dp.serialize(split())),
        "another opendp version": json.loads(dp.serialize(count()).replace(
            '"__version__": "0.14.2"', '"__version__": "0.99.0"')),
    }


@pytest.mark.parametrize("case", list(_hostile(Path("/nonexistent"))))
@pytest.mark.parametrize("path", ["/estimate_opendp_cost", "/opendp_query",
                                  "/dummy_opendp_query"])
def test_hostile_payloads_are_refused_before_anything_runs(
        query_client: Client, world: World, tripwires, case: str, path: str) -> None:
    marker, connects = tripwires
    payload = json.dumps(_hostile(marker)[case])
    response = post(query_client, path, body(payload), world.token)
    assert error(response) == (400, "InvalidQuery")
    assert not marker.exists(), "the payload ran code"
    assert connects == [], "the payload opened a socket"
    assert "lomas_evil_marker" not in sys.modules
    assert spent(world) == (0.0, 0.0) and world.store.list_archives() == []


def test_oversized_payload_is_refused(query_client: Client, world: World) -> None:
    huge = json.dumps({"__tuple__": [1.0] * (LIMIT // 4)})
    response = post(query_client, "/opendp_query", body(huge), world.token)
    assert error(response) == (413, "PayloadTooLarge")


def test_the_tripwires_are_armed(tripwires) -> None:
    """Without this, the hostile-payload tests could pass by construction."""
    import importlib

    marker, connects = tripwires
    importlib.import_module("lomas_evil_marker")
    assert marker.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    assert connects
