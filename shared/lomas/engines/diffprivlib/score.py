"""The held-out score, released through OpenDP: a score computed on private rows is a
statistic of them, so it leaves only with noise, and its epsilon is charged.

Both halves are sums of whole numbers per held-out row, with OpenDP's discrete Laplace:
the number of rows, and the number of correct predictions (a classifier) or the squared
residuals clipped to the target's range and counted in thousandths of it (a regressor).
The score is their ratio (post-processing). Half of `score_epsilon` goes to each.
"""

from __future__ import annotations

from typing import Any

UNITS = 1000
"""A regressor's squared residual, clipped to (upper - lower)^2, in thousandths of that."""


def _dp() -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def measurements(score_epsilon: float, max_ids: int, per_row: int) -> tuple[Any, Any]:
    """(the sum of per-row whole numbers in [0, per_row], the row count), each at
    score_epsilon / 2 for a person's up to max_ids rows."""
    dp = _dp()
    half = score_epsilon / 2

    def total(scale: float) -> Any:
        space = dp.vector_domain(dp.atom_domain(bounds=(0, per_row))), dp.symmetric_distance()
        return space >> dp.t.then_sum() >> dp.m.then_laplace(scale)

    def count(scale: float) -> Any:
        space = dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance()
        return space >> dp.t.then_count() >> dp.m.then_laplace(scale)

    return (dp.binary_search_chain(total, max_ids, half, T=float),
            dp.binary_search_chain(count, max_ids, half, T=float))


def cost(score_epsilon: float, max_ids: int, per_row: int) -> float:
    """The epsilon the two measurements spend, by OpenDP's map."""
    if score_epsilon == 0:
        return 0.0
    total, count = measurements(score_epsilon, max_ids, per_row)
    return float(total.map(max_ids)) + float(count.map(max_ids))


def release(score_epsilon: float, max_ids: int, per_row: int, values: list[int]) -> float:
    """The noisy ratio sum / count, in [0, 1] of `per_row` (run once)."""
    total, count = measurements(score_epsilon, max_ids, per_row)
    noisy_total, noisy_count = total(values), count(values)
    return min(max(noisy_total / max(noisy_count, 1) / per_row, 0.0), 1.0)
