"""MST and AIM as OpenDP measurements: a contingency table over the selected columns.

OpenDP's `make_contingency_table` (on Private-PGM) is used, not SmartNoise-Synth's MST and
AIM, because its privacy is proven by OpenDP's own privacy map and its noise drawn by
OpenDP's samplers (SmartNoise's draw theirs with numpy). Every key and cut comes from
the metadata, so no one-way stage has to discover keys (`oneway="unkeyed"` then spends
nothing on it) and delta goes only into the conversion of the zCDP spend to (epsilon,
delta): rho is the largest for which OpenDP's map gives at most the epsilon asked.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from lomas.engines.smartnoise_synth.columns import SynthColumn

DEFAULT_MAX_LENGTH = 1_000_000_000

_PRICED: OrderedDict[str, tuple[float, float, float]] = OrderedDict()
_PRICED_LOCK = threading.Lock()
_PRICED_KEPT = 512


def _dp() -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def input_domain(columns: list[SynthColumn], rows: int | None) -> Any:
    """The LazyFrame domain of the selected columns, as the metadata declares them."""
    dp = _dp()
    types = {"string": str, "int": "i64", "float": float, "boolean": bool}
    series = []
    for c in columns:
        atom = dp.atom_domain(T=types[c.type], nan=False) if c.type == "float" \
            else dp.atom_domain(T=types[c.type])
        series.append(dp.series_domain(c.name, dp.option_domain(atom) if c.nullable else atom))
    domain = dp.lazyframe_domain(series)
    return dp.with_margin(domain, dp.polars.Margin(by=[], max_length=rows or DEFAULT_MAX_LENGTH))


def keys_and_cuts(columns: list[SynthColumn]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Categories as keys; numeric columns cut at their bins' inner edges."""
    keys = {c.name: list(c.categories) for c in columns if c.categories is not None}
    cuts = {c.name: [int(e) if c.type == "int" else e for e in c.edges()[1:-1]]
            for c in columns if c.categories is None}
    return keys, cuts


def algorithm(synth: str, values: dict[str, Any]) -> Any:
    dp = _dp()
    if synth == "mst":
        return dp.mbi.MST(oneway="unkeyed", **values)
    return dp.mbi.AIM(oneway="unkeyed", **values)


def unit(max_ids: int) -> tuple[Any, list[Any]]:
    dp = _dp()
    return dp.frame_distance(dp.symmetric_distance()), [dp.polars.Bound(per_group=max_ids)]


def measurement(synth: str, values: dict[str, Any], columns: list[SynthColumn],
                rho: float, max_ids: int, rows: int | None) -> Any:
    """The zCDP measurement releasing the contingency table, spending rho."""
    dp = _dp()
    metric, d_in = unit(max_ids)
    keys, cuts = keys_and_cuts(columns)
    meas, _, _ = dp.mbi.make_contingency_table(
        input_domain(columns, rows), metric, dp.zero_concentrated_divergence(), d_in=d_in,
        d_out=rho, keys=keys, cuts=cuts, algorithm=algorithm(synth, values))
    return meas


def approximate(meas: Any, delta: float) -> Any:
    dp = _dp()
    return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(meas), delta)


def priced(synth: str, values: dict[str, Any], columns: list[SynthColumn], epsilon: float,
           delta: float, max_ids: int, rows: int | None) -> tuple[float, float, float]:
    """(rho, epsilon', delta): the largest rho whose (epsilon', delta) by OpenDP's map is
    within the epsilon asked, and that map's value (memoised: the estimate, the submit
    and a job's run price the same request)."""
    key = json.dumps([synth, values, [c.as_dict() for c in columns], epsilon, delta, max_ids,
                      rows], sort_keys=True)
    with _PRICED_LOCK:
        if key in _PRICED:
            _PRICED.move_to_end(key)
            return _PRICED[key]
    dp = _dp()
    _, d_in = unit(max_ids)

    def spent(rho: float) -> tuple[float, float]:
        meas = measurement(synth, values, columns, rho, max_ids, rows)
        eps, dlt = approximate(meas, delta).map(d_in)
        return float(eps), float(dlt)

    rho = float(dp.binary_search(lambda r: spent(r)[0] <= epsilon, bounds=(1e-12, epsilon),
                                 T=float))
    price = (rho, *spent(rho))
    with _PRICED_LOCK:
        _PRICED[key] = price
        while len(_PRICED) > _PRICED_KEPT:
            _PRICED.popitem(last=False)
    return price


def fit(synth: str, values: dict[str, Any], columns: list[SynthColumn], rho: float,
        max_ids: int, rows: int | None, frame: Any) -> Any:
    """Release the contingency table from the private rows (a polars DataFrame), once."""
    meas = measurement(synth, values, columns, rho, max_ids, rows)
    _, d_in = unit(max_ids)
    assert meas.map(d_in) <= rho, "the measurement spends more than it was priced at"
    return meas(frame.lazy())


def sample(table: Any, columns: list[SynthColumn], rows: int) -> Any:
    """Synthetic rows drawn from the released table (post-processing): a category by its
    index, a numeric value uniformly within its bin's bounds from the metadata. A null
    drawn for a column that may hold none becomes a category drawn uniformly."""
    import numpy as np
    import pandas as pd

    indices = table.model.synthetic_data(rows).df
    rng = np.random.default_rng()
    out: dict[str, Any] = {}
    for c in columns:
        idx = indices[c.name].to_numpy()
        if c.categories is not None:
            labels = table.keys[c.name].to_list()  # the categories, then null
            picked = [labels[i] for i in idx]
            if not c.nullable:
                picked = [v if v is not None else c.categories[rng.integers(len(c.categories))]
                          for v in picked]
            out[c.name] = picked
            continue
        edges = np.array(c.edges())
        inside = idx < len(edges) - 1
        i = np.where(inside, idx, 0)
        if c.type == "int":
            low = np.where(i == 0, edges[i], edges[i] + 1)
            values = rng.integers(low.astype(np.int64), edges[i + 1].astype(np.int64) + 1)
            column = pd.array(values, dtype="Int64")
        else:
            column = pd.array(rng.uniform(edges[i], edges[i + 1]), dtype="Float64")
        column[~inside] = pd.NA
        out[c.name] = column
    return pd.DataFrame(out)
