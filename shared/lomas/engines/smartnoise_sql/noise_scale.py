"""SmartNoise's noise-scale search, made fast and kept exact.

A SmartNoise mechanism finds its noise scale with OpenDP's `binary_search_param`: the
smallest scale whose measurement OpenDP's own privacy map accepts for (epsilon, delta).
Bisecting from a bracket of 14 orders of magnitude (or none) down to adjacent floats
takes 60 to 80 checks: ~15 ms per Laplace aggregate, ~170 ms per Gaussian one (warm),
most of a new query's time.

`narrowed_binary_search_param` returns the same scale with about 15 evaluations of the
privacy map for a Laplace aggregate, 20 for a Gaussian one (3.5 and 51 ms). It first
solves for the scale with the privacy map itself (a few secant steps on log epsilon
against log scale: epsilon is inversely proportional to the Laplace scale, nearly so
to the Gaussian's), then bisects, with OpenDP's `binary_search`, a bracket about
1e-13 wide around it (wider ones if needed; `binary_search` first checks that OpenDP
refuses its lower end and accepts its upper end). The bisection converges to the same
boundary, so the scale is the one the full search finds (a test compares them on many
parameter sets); when no such bracket is found, OpenDP's full search runs unchanged.
Privacy is OpenDP's check in both cases: the result is a scale the check accepted.

SmartNoise's Gaussian search starts without bounds, and OpenDP's bound search then
often fails ("Unable to find appropriate noise scale") or runs for seconds; the
narrowed search finds the smallest accepted scale there too (a test checks that the
float below it is refused), so such queries now run instead of being refused.

`speed_up_searches` hands this search to SmartNoise's Laplace and Gaussian modules
(their `_compute_noise_scale` is unchanged).
"""

from __future__ import annotations

import contextlib
import math
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import opendp.prelude as dp
from opendp.mod import OpenDPException, binary_search, binary_search_param

SOLVE_STEPS = 12
START_TRIES = 30
SOLVED = 1e-12  # relative distance to the target epsilon at which solving stops
HALF_WIDTHS = (1e-13, 1e-9, 1e-5)  # relative half-widths of the brackets tried


def _epsilon(make_chain: Callable[[Any], Any], d_in: Any, scale: float) -> float:
    out = make_chain(scale).map(d_in)
    return float(out[0] if isinstance(out, tuple) else out)


def solve_scale(make_chain: Callable[[Any], Any], d_in: Any, d_out: Any,
                bounds: tuple[float, float] | None) -> float | None:
    """The scale at which the privacy map gives the target epsilon, or None."""
    target = float(d_out[0] if isinstance(d_out, tuple) else d_out)
    if not target > 0 or not math.isfinite(target):
        return None
    scale = math.sqrt(bounds[0] * bounds[1]) if bounds and min(bounds) > 0 else 1.0
    for _ in range(START_TRIES):  # a scale far too small can overflow the map: go up
        try:
            epsilon = _epsilon(make_chain, d_in, scale)
            break
        except OpenDPException:
            scale *= 10.0
    else:
        return None
    slope = -1.0  # Laplace: epsilon = sensitivity / scale
    for _ in range(SOLVE_STEPS):
        if not (epsilon > 0 and math.isfinite(epsilon)):
            return None
        if abs(epsilon / target - 1.0) < SOLVED:
            break
        step = (math.log(target) - math.log(epsilon)) / slope
        following = scale * math.exp(max(-50.0, min(50.0, step)))
        then = _epsilon(make_chain, d_in, following)
        if following != scale and then != epsilon and then > 0:
            slope = (math.log(then) - math.log(epsilon)) / (math.log(following)
                                                            - math.log(scale))
            if not slope < 0:  # the map must decrease with the scale
                return None
        scale, epsilon = following, then
    return scale


def narrowed_binary_search_param(make_chain: Callable[[Any], Any], d_in: Any, d_out: Any,
                                 bounds: Any = None, T: Any = None) -> Any:
    """OpenDP's `binary_search_param`, bisecting a narrow bracket found first."""

    def passes(scale: float) -> bool:
        return bool(make_chain(scale).check(d_in, d_out))

    if T in (None, float) and (bounds is None or isinstance(bounds[0], float)):
        try:
            scale = solve_scale(make_chain, d_in, d_out, bounds)
            for half_width in HALF_WIDTHS:
                if scale is None:
                    break
                bracket = (scale * (1 - half_width), scale * (1 + half_width))
                with contextlib.suppress(ValueError):  # the boundary is outside it
                    return binary_search(passes, bounds=bracket)
        except (OpenDPException, ValueError, OverflowError, ZeroDivisionError):
            pass  # the full search below decides, and raises what it raises
    return binary_search_param(make_chain, d_in, d_out, bounds=bounds, T=T)


class _Prelude(types.ModuleType):
    """`opendp.prelude` with the narrowed search (for modules that call it as dp.…)."""

    binary_search_param = staticmethod(narrowed_binary_search_param)

    def __getattr__(self, name: str) -> Any:
        return getattr(dp, name)


def speed_up_searches() -> None:
    """Give SmartNoise's Laplace and Gaussian mechanisms the narrowed search."""
    from snsql.sql._mechanisms import gaussian, laplace

    laplace.binary_search_param = narrowed_binary_search_param
    if not isinstance(gaussian.dp, _Prelude):
        gaussian.dp = _Prelude("opendp.prelude")


@contextlib.contextmanager
def full_searches() -> Iterator[None]:
    """SmartNoise's own search (OpenDP's full bisection) within the block: for tests."""
    from snsql.sql._mechanisms import gaussian, laplace

    laplace.binary_search_param = binary_search_param
    gaussian.dp = sys.modules["opendp.prelude"]
    try:
        yield
    finally:
        speed_up_searches()
