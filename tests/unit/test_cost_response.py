"""A cost estimate as a person reads it: `CostResponse.describe()`."""

from __future__ import annotations

from lomas_contract.models import Accuracy, ColumnAccuracy, CostResponse


def test_describe_says_the_cost_and_each_bound_at_its_confidence() -> None:
    accuracy = Accuracy.of(0.05, [
        ColumnAccuracy(column="n", statistic="COUNT(*)", bound=2.995732),
        ColumnAccuracy(column="a", statistic="AVG(income)", reason="not available: ..."),
        ColumnAccuracy(column="value", bound=1234567.0)], "none")
    cost = CostResponse(epsilon=3.0, delta=1.4999949999983109e-05, accuracy=accuracy)
    assert cost.describe() == ("ε 3, δ 1.5e-05; at 95% confidence COUNT(*) within ±2.996, "
                               "AVG(income) not available, value within ±1.235e+06")
    assert accuracy.available and accuracy.reason is None


def test_describe_without_any_bound() -> None:
    engine = CostResponse(epsilon=1.5, delta=0.0,
                          accuracy=Accuracy.unavailable(0.1, "not available for DiffPrivLib"))
    assert engine.describe() == "ε 1.5, δ 0; accuracy not available for DiffPrivLib"
    assert CostResponse(epsilon=1.0, delta=1e-5).describe() == "ε 1, δ 1e-05"  # an old server
    none = Accuracy.of(0.01, [ColumnAccuracy(column="a", statistic="AVG(age)")], "why")
    assert (none.available, none.reason) == (False, "why")
    assert CostResponse(epsilon=2.0, delta=0.0, accuracy=none).describe() == (
        "ε 2, δ 0; at 99% confidence AVG(age) not available")
