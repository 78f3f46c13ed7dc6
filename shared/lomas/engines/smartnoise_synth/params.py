"""Each synthesizer's parameters: an allowlist with bounded values, checked before any charge.

The bounds keep a fit within minutes and its tables within memory; a fit that still runs
past `LOMAS_FIT_TIMEOUT_SECONDS` is stopped. MWEM's defaults that the library would pick
from the private data's size (iterations, marginal width) are fixed here instead: a
structure chosen from the data would tell something about it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lomas.engines.smartnoise_synth.columns import SynthColumn
from lomas.errors import InvalidQuery

MAX_TABLE_CELLS = 20_000_000
"""The largest histogram (MWEM) or marginal (MST, AIM) a fit may hold: 160 MB of floats."""


@dataclass(frozen=True)
class Param:
    kind: type
    low: float | None = None
    high: float | None = None
    default: Any = None
    low_open: bool = False

    def check(self, synth: str, name: str, value: Any) -> Any:
        if value is None:
            return self.default
        if self.kind is bool:
            if not isinstance(value, bool):
                raise _bad(synth, name, "true or false")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                self.kind is int and not isinstance(value, int)):
            raise _bad(synth, name, f"{'an integer' if self.kind is int else 'a number'} "
                       f"{self.range()}")
        if not math.isfinite(value) or (self.low is not None and (
                value < self.low or (self.low_open and value == self.low))) or (
                self.high is not None and value > self.high):
            raise _bad(synth, name, self.range())
        return self.kind(value)

    def range(self) -> str:
        opening = "(" if self.low_open else "["
        return f"in {opening}{self.low:g}, {self.high:g}]"


def _bad(synth: str, name: str, expected: str) -> InvalidQuery:
    return InvalidQuery(f"synth_params[{name!r}] for {synth} must be {expected}.")


ALLOWED: dict[str, dict[str, Param]] = {
    "mwem": {
        "iterations": Param(int, 1, 500, default=30),
        "marginal_width": Param(int, 1, 3, default=2),
        "q_count": Param(int, 1, 5_000),
        "split_factor": Param(int, 1, 500),
        "add_ranges": Param(bool, default=False),
        "measure_only": Param(bool, default=False),
        "max_retries_exp_mechanism": Param(int, 0, 100, default=10),
        "mult_weights_iterations": Param(int, 1, 100, default=20),
    },
    "mst": {
        "measure_split": Param(float, 0, 1, default=0.9, low_open=True),
        "num_selections": Param(int, 1, 1_000),
    },
    "aim": {
        "queries": Param(int, 1, 3, default=3),
        "measure_split": Param(float, 0, 1, default=0.9, low_open=True),
        "max_size": Param(float, 0, 80, default=80.0, low_open=True),
        "rounds": Param(int, 1, 500),
    },
}


def checked(synth: str, params: dict[str, Any], columns: list[SynthColumn]) -> dict[str, Any]:
    """The parameters with their defaults, every one allowed and in range. Raises
    InvalidQuery naming the first that is not."""
    allowed = ALLOWED[synth]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidQuery(
            f"synth_params {', '.join(map(repr, unknown))} not allowed for {synth}; allowed: "
            f"{', '.join(allowed)} (epsilon and delta are fields of the request).")
    values = {name: p.check(synth, name, params.get(name)) for name, p in allowed.items()}
    values = {name: v for name, v in values.items() if v is not None}
    _check_size(synth, values, columns)
    return values


def mwem_splits(values: dict[str, Any], n_columns: int) -> list[list[int]]:
    """The column groups MWEM makes a histogram of (its `_generate_splits`)."""
    factor = min(values.get("split_factor") or n_columns, n_columns)
    return [list(range(i, min(i + factor, n_columns))) for i in range(0, n_columns, factor)]


def _check_size(synth: str, values: dict[str, Any], columns: list[SynthColumn]) -> None:
    sizes = [c.size for c in columns]
    if synth == "mwem":
        tables = [[sizes[i] for i in split] for split in mwem_splits(values, len(columns))]
        what = "MWEM's histogram over the columns of a split"
        hint = "set a smaller split_factor, or select fewer columns"
    else:
        width = 2 if synth == "mst" else values["queries"]
        tables = [sorted(sizes, reverse=True)[:width]]
        what = f"a {width}-way marginal of the widest columns"
        hint = "select fewer or narrower columns" + (
            ", or lower 'queries'" if synth == "aim" else "")
    largest = max(math.prod(t) for t in tables)
    if largest > MAX_TABLE_CELLS:
        raise InvalidQuery(f"{what} would have {largest:,} cells, over the limit of "
                           f"{MAX_TABLE_CELLS:,}: {hint}.")
    if synth == "mst" and (n := values.get("num_selections")) is not None \
            and n > len(columns) * (len(columns) - 1) // 2:
        raise InvalidQuery(f"num_selections ({n}) is more than the pairs of the "
                           f"{len(columns)} selected columns.")


def mwem_spent(epsilon: float, values: dict[str, Any], n_columns: int) -> float:
    """What a fitted MWEMSynthesizer reports as `spent`, computed as it computes it: each
    histogram's iterations each append the per-measure epsilon once for selecting a query
    and once for measuring it (twice the epsilon, once, when measure_only)."""
    splits = mwem_splits(values, n_columns)
    iterations = values["iterations"]
    meas_eps = epsilon / 2.0 / len(splits) / iterations
    if values["measure_only"]:
        accountant = [2 * meas_eps] * (iterations * len(splits))
    else:
        accountant = [meas_eps] * (2 * iterations * len(splits))
    return sum(list(accountant))
