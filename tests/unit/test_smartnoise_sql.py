from __future__ import annotations

import pytest

from lomas import demo
from lomas.data.handles import FrameHandle
from lomas.domain import PrivacyCost
from lomas.engines.smartnoise_sql import execution as sn
from lomas.engines.smartnoise_sql.noise_scale import full_searches
from lomas.errors import InvalidQuery
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlRequest

META = demo.income_metadata(1000)


def req(query: str, **kw) -> SmartnoiseSqlRequest:
    return SmartnoiseSqlRequest(dataset_name="income", query_str=query,
                                  epsilon=kw.pop("epsilon", 1.0), delta=kw.pop("delta", 1e-5), **kw)


@pytest.fixture(scope="module")
def table() -> FrameHandle:
    return FrameHandle(demo.income_frame(1000, seed=1), "income")


def test_cost_is_what_snsql_bills_not_the_requested_epsilon() -> None:
    cost = sn.estimate_cost("income", META, req("SELECT COUNT(*) AS n, AVG(income) AS a FROM df"))
    assert cost.epsilon == pytest.approx(3.0)
    assert cost.delta == pytest.approx(1.5e-5, rel=1e-3)
    assert sn.estimate_cost("income", META, req("SELECT COUNT(*) AS n FROM income")).epsilon == 1.0
    assert META.censor_dims  # SmartNoise's default
    assert sn.estimate_cost("income", META, req("SELECT SUM(age) AS s FROM df")).epsilon == 2.0


@pytest.mark.parametrize("query", [
    "SELECT * FROM df",
    "SELECT region FROM df",
    "SELECT COUNT(nope) AS n FROM df",
    "SELECT COUNT(*) AS n FROM other_table",
    "SELECT COUNT(*) AS n FROM sqlite_master",
    "DROP TABLE df",
    "SELECT COUNT(*) AS n FROM df; DROP TABLE df",
    "this is not sql",
])
def test_non_dp_or_invalid_sql_is_an_invalid_query(query: str) -> None:
    with pytest.raises(InvalidQuery):
        sn.estimate_cost("income", META, req(query))


def test_unknown_mechanism_is_an_invalid_query() -> None:
    with pytest.raises(InvalidQuery, match="mechanism"):
        sn.estimate_cost("income", META, req("SELECT COUNT(*) AS n FROM df",
                                             mechanisms={"count": "magic"}))


def test_requested_mechanism_is_honoured() -> None:
    q = "SELECT COUNT(*) AS n FROM df"
    uncensored = META.model_copy(update={"censor_dims": False})  # pure DP needs the opt-out
    assert sn.estimate_cost("income", uncensored, req(q, delta=0.0)).epsilon == 1.0  # laplace
    with pytest.raises(InvalidQuery, match="delta"):  # gaussian needs a delta
        sn.estimate_cost("income", uncensored,
                         req(q, delta=0.0, mechanisms={"count": "gaussian"}))


def test_censored_dimensions_need_delta_before_any_charge() -> None:
    with pytest.raises(InvalidQuery, match="delta"):
        sn.estimate_cost("income", META, req("SELECT COUNT(*) AS n FROM df", delta=0.0))


def test_execute_by_dataset_name_and_df_with_stable_columns(table: FrameHandle) -> None:
    by_name = sn.execute(table, "income", META,
                         req("SELECT region, COUNT(*) AS n FROM income GROUP BY region"))
    assert list(by_name.columns) == ["region", "n"]
    assert set(by_name["region"]) <= set(demo.REGIONS)
    unnamed = sn.execute(table, "income", META, req("SELECT COUNT(*), AVG(income) FROM df"))
    assert list(unnamed.columns) == ["expr_0", "expr_1"]
    assert abs(unnamed["expr_0"][0] - 1000) < 100


def test_postprocess_false_returns_the_raw_noisy_aggregates(table: FrameHandle) -> None:
    uncensored = META.model_copy(update={"censor_dims": False})
    raw = sn.execute(table, "income", uncensored,
                     req("SELECT AVG(income) AS a FROM df", postprocess=False))
    assert list(raw.columns) == ["raw_0", "raw_1"]  # the noisy SUM and COUNT behind AVG
    censored = sn.execute(table, "income", META,
                          req("SELECT AVG(income) AS a FROM df", postprocess=False))
    assert list(censored.columns) == ["raw_0", "raw_1", "raw_2"]  # and the thresholded count
    assert abs(raw["raw_1"][0] - 1000) < 100


def test_cost_type() -> None:
    cost = sn.estimate_cost("income", META, req("SELECT COUNT(*) AS n FROM df"))
    assert isinstance(cost, PrivacyCost) and isinstance(cost.epsilon, float)


@pytest.mark.parametrize("kind", ["laplace", "gaussian"])
def test_remembered_noise_scales_are_the_ones_opendp_finds(kind: str) -> None:
    from snsql.sql._mechanisms.gaussian import Gaussian
    from snsql.sql._mechanisms.laplace import Laplace

    from lomas.engines.smartnoise_sql import execution  # noqa: F401 - remembers the scales

    cls = Laplace if kind == "laplace" else Gaussian
    params = {"epsilon": 1.0, "delta": 1e-5, "lower": 0.0, "upper": 100.0, "max_contrib": 1}
    first = cls(**params)
    remembered = cls(**params)
    assert remembered.scale == first.scale
    fresh = cls(**params)
    fresh.scale = None
    with full_searches():
        cls._compute_noise_scale.search(fresh)  # SmartNoise's own search, not the memo
    assert fresh.scale == first.scale
    assert cls(**{**params, "epsilon": 2.0}).scale != first.scale  # a key per parameter set
    assert cls(**{**params, "upper": 50.0}).scale != first.scale


NARROWED_CASES = [  # (mechanism, epsilon, delta, lower, upper, max_contrib)
    *[("laplace", eps, 0.0, lower, upper, contrib)
      for eps in (0.01, 0.1, 0.37, 1.0, 3.3, 17.0)
      for lower, upper, contrib in ((0.0, 1.0, 1), (-250.5, 999.25, 2), (18.0, 90.0, 7))],
    ("gaussian", 1.0, 1e-5, 0.0, 100.0, 1),
    ("gaussian", 0.5, 1e-6, 0.0, 1.0, 1),
    ("gaussian", 2.0, 1e-4, -10.0, 10.0, 3),
]


@pytest.mark.parametrize(("kind", "epsilon", "delta", "lower", "upper", "contrib"),
                         NARROWED_CASES)
def test_the_narrowed_search_finds_smartnoises_scale(kind, epsilon, delta, lower, upper,
                                                     contrib) -> None:
    from snsql.sql._mechanisms.gaussian import Gaussian
    from snsql.sql._mechanisms.laplace import Laplace

    cls = Laplace if kind == "laplace" else Gaussian
    params = {"epsilon": epsilon, "delta": delta, "lower": lower, "upper": upper,
              "max_contrib": contrib}
    mechanism = cls(**params)
    mechanism.scale = None
    cls._compute_noise_scale.search(mechanism)  # the narrowed search, not the memo
    narrowed = mechanism.scale
    mechanism.scale = None
    with full_searches():
        cls._compute_noise_scale.search(mechanism)
    assert narrowed == mechanism.scale


def test_the_narrowed_search_gives_the_smallest_scale_opendp_accepts() -> None:
    """Where SmartNoise's own Gaussian search gives up (it starts from no bounds), the
    narrowed one still returns a scale OpenDP's check accepts, the next float below
    it refused."""
    import math

    import opendp.prelude as dp

    from lomas.engines.smartnoise_sql.noise_scale import narrowed_binary_search_param

    dp.enable_features("floating-point", "contrib")
    delta, epsilon = 3.6e-6, 0.83
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
    bounded_sum = space >> dp.t.then_clamp(bounds=(48.0, 486.0)) >> dp.t.then_sum()

    def chain(scale: float):
        return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(
            bounded_sum >> dp.m.then_gaussian(scale)), delta=delta)

    scale = narrowed_binary_search_param(chain, 1, (epsilon, delta))
    assert chain(scale).check(1, (epsilon, delta))
    assert not chain(math.nextafter(scale, 0.0)).check(1, (epsilon, delta))
