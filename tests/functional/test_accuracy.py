"""A cost estimate's accuracy: the libraries' own estimates, at the requested alpha, made
from the request and the metadata only (never the data), "not available" where the
library cannot tell before it runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import opendp.prelude as dp
import pandas as pd
import polars as pl
import pytest
import snsql
from chalice.test import Client
from opendp import accuracy as opendp_accuracy
from snsql.metadata import Metadata

from lomas import demo
from lomas.domain import Dataset, PrivacyCost
from lomas.testing.fakes import InMemoryStore
from lomas_contract.engines.opendp import polars_context, serialize_polars_query
from lomas_contract.sources.local import LocalAccess
from tests.conftest import World, make_world
from tests.functional.opendp import test_measurements as measurements
from tests.functional.test_query_api import error, post
from tests.support.data import INCOME_ROWS

META = demo.income_metadata(INCOME_ROWS)
SNSQL_TABLE = {  # META in SmartNoise's own words
    "max_ids": 1, "row_privacy": True, "rows": INCOME_ROWS, "censor_dims": True,
    "clamp_counts": True, "clamp_columns": True, "region": {"type": "string"},
    "sex": {"type": "string"}, "age": {"type": "int", "lower": 18, "upper": 90},
    "education": {"type": "string"}, "income": {"type": "float", "lower": 0.0,
                                                "upper": 500_000.0}}
SQL_ROUTE, OPENDP_ROUTE = "/estimate_smartnoise_sql_cost", "/estimate_opendp_cost"


@pytest.fixture
def world(tmp_path: Path) -> World:  # polars plans are larger than the default world takes
    return make_world(InMemoryStore(), tmp_path, PrivacyCost(10.0, 1e-3),
                      max_body_bytes=2_000_000)


def sql(query: str, **extra: object) -> dict[str, object]:
    return {"dataset_name": "income", "query_str": query, "epsilon": 1.0, "delta": 1e-5,
            **extra}


def library_sql_accuracy(query: str, alpha: float, mechanisms: dict[str, str] | None = None,
                         epsilon: float = 1.0, delta: float = 1e-5) -> list[float | None]:
    """SmartNoise's own get_simple_accuracy, on a reader of its own over an empty frame."""
    privacy = snsql.Privacy(epsilon=epsilon, delta=delta)
    for stat, mechanism in (mechanisms or {}).items():
        privacy.mechanisms.map[snsql.sql.privacy.Stat[stat]] = \
            snsql.sql._mechanisms.base.Mechanism[mechanism]
    empty = pd.DataFrame({name: [] for name in META.columns})
    reader = snsql.from_df({"income": empty, "df": empty}, privacy=privacy,
                           metadata=Metadata.from_dict({"": {"": {"income": SNSQL_TABLE,
                                                                  "df": SNSQL_TABLE}}}))
    return reader.get_simple_accuracy(query, alpha)


def columns(body: dict) -> dict[str, float | None]:
    return {c["column"]: c["bound"] for c in body["accuracy"]["columns"]}


@pytest.mark.parametrize(("query", "alpha", "mechanisms"), [
    ("SELECT COUNT(*) AS n FROM income", 0.05, None),
    ("SELECT SUM(income) AS s, COUNT(age) AS c FROM income", 0.01, None),
    ("SELECT sex, COUNT(*) AS n, SUM(age) AS a FROM income GROUP BY sex", 0.2, None),
    ("SELECT COUNT(*) AS n, SUM(income) AS s FROM df", 0.05,
     {"count": "gaussian", "sum_float": "gaussian"}),
])
def test_sql_bounds_are_smartnoise_get_simple_accuracy(
        query_client: Client, world: World, query: str, alpha: float,
        mechanisms: dict[str, str] | None) -> None:
    body = sql(query, alpha=alpha, mechanisms=mechanisms or {})
    response = post(query_client, SQL_ROUTE, body, world.token)
    assert response.status_code == 200, response.json_body
    accuracy = response.json_body["accuracy"]
    assert accuracy["alpha"] == alpha and accuracy["available"] is True
    expected = [b for b in library_sql_accuracy(query, alpha, mechanisms) if b is not None]
    got = [c["bound"] for c in accuracy["columns"]]
    assert got == pytest.approx(expected, rel=1e-12) and all(b > 0 for b in got)
    assert "sex" not in columns(response.json_body)  # a GROUP BY key is not noised


def test_sql_says_what_it_cannot_estimate(query_client: Client, world: World) -> None:
    query = "SELECT COUNT(*) AS n, AVG(income) AS a, 2 * COUNT(*) AS d FROM income"
    body = post(query_client, SQL_ROUTE, sql(query), world.token).json_body
    [n, a, d] = body["accuracy"]["columns"]
    assert (n["column"], n["statistic"]) == ("n", "COUNT(*)")
    assert n["bound"] == pytest.approx(library_sql_accuracy(query, 0.05)[0])
    assert (a["statistic"], a["bound"]) == ("AVG(income)", None) and "COUNT or SUM" in a["reason"]
    assert d["bound"] is None  # SmartNoise would give its COUNT's bound, half the true one
    only_avg = post(query_client, SQL_ROUTE, sql("SELECT AVG(age) AS a FROM income"),
                    world.token).json_body["accuracy"]
    assert only_avg["available"] is False and "COUNT or SUM" in only_avg["reason"]


def test_the_default_alpha_is_005_and_a_smaller_one_widens_the_bound(
        query_client: Client, world: World) -> None:
    count = "SELECT COUNT(*) AS n FROM income"
    default = post(query_client, SQL_ROUTE, sql(count), world.token).json_body["accuracy"]
    strict = post(query_client, SQL_ROUTE, sql(count, alpha=0.001), world.token).json_body
    assert default["alpha"] == 0.05
    assert default["columns"][0]["bound"] == pytest.approx(math.log(1 / 0.05))  # Laplace, b=1
    assert strict["accuracy"]["columns"][0]["bound"] > default["columns"][0]["bound"]


@pytest.mark.parametrize("alpha", [0, 1, -0.5, 1.5, "0.1x", None, float("nan")])
def test_alpha_must_be_strictly_between_0_and_1(query_client: Client, world: World,
                                                 alpha: object) -> None:
    text = json.dumps(sql("SELECT COUNT(*) AS n FROM income", alpha=alpha))  # NaN as NaN
    response = post(query_client, SQL_ROUTE, text, world.token)
    assert error(response) == (400, "InvalidQuery")
    assert "alpha" in response.json_body["message"]


def test_alpha_is_the_estimates_only(query_client: Client, world: World) -> None:
    """A query takes no alpha: it would be archived with the query and change its key."""
    response = post(query_client, "/smartnoise_sql_query",
                    sql("SELECT COUNT(*) AS n FROM income", alpha=0.1), world.token)
    assert error(response) == (400, "InvalidQuery") and "alpha" in response.json_body["message"]
    assert world.store.get_grant("alice", "income").spent == PrivacyCost(0.0, 0.0)


def polars_queries():
    context = polars_context(META, dp.loss_of(epsilon=1.0, delta=1e-6))
    return {
        "count and mean": polars_context(META, dp.loss_of(epsilon=1.0)).query().select(
            dp.len(), pl.col("income").fill_null(0.0).dp.mean((0.0, 500000.0))),
        "grouped sum": context.query().group_by("sex").agg(
            dp.len(), pl.col("age").fill_null(0).dp.sum((18, 90))),
        "median": polars_context(META, dp.loss_of(rho=0.5)).query().select(
            dp.len(), pl.col("age").fill_null(0).dp.median(candidates=list(range(18, 91)))),
    }


@pytest.mark.parametrize("name", list(polars_queries()))
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_polars_bounds_are_opendp_summarize(query_client: Client, world: World, name: str,
                                            alpha: float) -> None:
    query = polars_queries()[name]
    body = {"dataset_name": "income", "opendp_json": serialize_polars_query(query),
            "alpha": alpha, "fixed_delta": 1e-6 if name == "median" else None}
    response = post(query_client, OPENDP_ROUTE, body, world.token)
    assert response.status_code == 200, response.json_body
    summary = query.summarize(alpha=alpha)  # OpenDP's own, on the researcher's side
    got = response.json_body["accuracy"]["columns"]
    assert [(c["column"], c["statistic"]) for c in got] == [
        (row["column"], f"{row['column']} ({row['aggregate']})")
        for row in summary.iter_rows(named=True)]
    for column, bound in zip(got, summary["accuracy"], strict=True):
        assert column["bound"] == (None if bound is None else pytest.approx(bound, rel=1e-12))
    if name == "median":
        assert got[1]["bound"] is None and "not available" in got[1]["reason"]


@pytest.mark.parametrize(("make", "helper", "scale"), [
    (measurements.count, opendp_accuracy.discrete_laplacian_scale_to_accuracy, 2.0),
    (measurements.mean, opendp_accuracy.laplacian_scale_to_accuracy, 500.0),
    (measurements.gaussian_sum, opendp_accuracy.discrete_gaussian_scale_to_accuracy, 200.0),
])
def test_a_measurement_ending_with_its_noise_has_opendp_scale_to_accuracy(
        query_client: Client, world: World, make, helper, scale: float) -> None:
    body = measurements.body(make(), alpha=0.02, fixed_delta=1e-5)
    response = post(query_client, OPENDP_ROUTE, body, world.token)
    assert response.status_code == 200, response.json_body
    [value] = response.json_body["accuracy"]["columns"]
    assert value["bound"] == pytest.approx(helper(scale, 0.02), rel=1e-12)


def test_a_composed_measurement_has_no_accuracy(query_client: Client, world: World) -> None:
    body = post(query_client, OPENDP_ROUTE, measurements.body(measurements.histogram()),
                world.token).json_body
    assert body["accuracy"]["available"] is False
    assert "Laplace or Gaussian noise" in body["accuracy"]["reason"]
    assert body["epsilon"] > 0


def test_synthesizers_and_models_say_not_available(query_client: Client, world: World) -> None:
    from tests.functional.test_ml_refusals import model, synth

    for route, request, label in (
            ("/estimate_smartnoise_synth_cost", synth(alpha=0.1), "SmartNoise-Synth"),
            ("/estimate_diffprivlib_cost", model(alpha=0.1), "DiffPrivLib")):
        response = post(query_client, route, request, world.token)
        assert response.status_code == 200, response.json_body
        assert response.json_body["accuracy"] == {
            "alpha": 0.1, "available": False, "reason": f"not available for {label}",
            "columns": []}


def requests_with_accuracy(dataset: str) -> list[tuple[str, dict[str, object]]]:
    count_mean = polars_queries()["count and mean"]
    return [
        (SQL_ROUTE, sql("SELECT sex, COUNT(*) AS n, SUM(income) AS s FROM df GROUP BY sex",
                        dataset_name=dataset, alpha=0.1)),
        (OPENDP_ROUTE, {"dataset_name": dataset, "alpha": 0.1,
                        "opendp_json": serialize_polars_query(count_mean)}),
        (OPENDP_ROUTE, measurements.body(measurements.count(), dataset_name=dataset)),
    ]


def test_the_accuracy_reads_no_data(query_client: Client, world: World,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise AssertionError("the estimate opened the data")

    monkeypatch.setattr(world.ctx.handles, "open", broken)
    monkeypatch.setattr(world.ctx.sources, "open", broken)
    for route, request in requests_with_accuracy("income"):
        response = post(query_client, route, request, world.token)
        assert response.status_code == 200, response.json_body
        assert response.json_body["accuracy"]["available"] is True
    assert world.store.get_grant("alice", "income").spent == PrivacyCost(0.0, 0.0)


def test_the_accuracy_is_the_same_on_other_data_of_the_same_metadata(
        query_client: Client, world: World) -> None:
    """Nothing of the rows can leak through it: a table of other values (every income
    at its upper bound, one sex only) gets the same answer, to the last bit."""
    data = world.ctx.settings.resolved_data_root
    other = demo.income_frame(INCOME_ROWS, seed=99).assign(income=500_000.0, sex="F")
    other.to_csv(data / "other.csv", index=False)
    world.store.create_dataset(Dataset("other", LocalAccess(path="other.csv"), META))
    world.store.put_grant("alice", "other", PrivacyCost(10.0, 1e-3))
    for (route, mine), (_, theirs) in zip(requests_with_accuracy("income"),
                                          requests_with_accuracy("other"), strict=True):
        first = post(query_client, route, mine, world.token).json_body
        second = post(query_client, route, theirs, world.token).json_body
        assert first["accuracy"]["available"] and first == second


def test_the_readmes_accuracy_line_is_what_the_estimate_says() -> None:
    """The line under <!-- accuracy -->, on the demo dataset's metadata."""
    from lomas.engines.smartnoise_sql import execution
    from lomas.engines.smartnoise_sql.accuracy import estimate_accuracy
    from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlCostRequest
    from lomas_contract.models import CostResponse

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = readme.split("<!-- accuracy -->", 1)[1].split("# ", 2)[1].split("\n", 1)[0]
    metadata = demo.income_metadata(demo.INCOME_ROWS)
    request = SmartnoiseSqlCostRequest(
        dataset_name="income_synth", epsilon=1.0, delta=1e-5,
        query_str="SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM income_synth")
    cost = execution.estimate_cost("income_synth", metadata, request)
    accuracy = estimate_accuracy("income_synth", metadata, request, 0.05)
    assert shown == CostResponse(epsilon=cost.epsilon, delta=cost.delta,
                                 accuracy=accuracy).describe()
    wider = estimate_accuracy("income_synth", metadata, request.model_copy(
        update={"epsilon": 0.1}), 0.05).columns[0].bound
    assert f"±{wider:.4g} at ε = 0.1" in readme.replace("\n", " ")
