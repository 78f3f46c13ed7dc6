"""OpenDP's accuracy estimate, from the rebuilt pipeline alone (never the data).

A polars query: OpenDP's `summarize_polars_measurement` (what `LazyFrameQuery.summarize`
calls), one bound per statistic it releases (a mean is its sum and its length; a quantile
has none). A Measurement: OpenDP's `*_scale_to_accuracy` of its noise, when the pipeline
ends with a Laplace or Gaussian mechanism, whose scale is then the released value's (of
each element of a vector); after a composition or a post-processing step, none.
"""

from __future__ import annotations

import logging
from typing import Any

import opendp.accuracy as acc
from opendp.mod import Measurement, OpenDPException

from lomas.engines.opendp.measurement import Pipeline
from lomas_contract.models import Accuracy, ColumnAccuracy

log = logging.getLogger(__name__)

NOISES = {  # the mechanism, and whether its input is integral: OpenDP's accuracy of it
    ("make_laplace", True): acc.discrete_laplacian_scale_to_accuracy,
    ("make_laplace", False): acc.laplacian_scale_to_accuracy,
    ("make_gaussian", True): acc.discrete_gaussian_scale_to_accuracy,
    ("make_gaussian", False): acc.gaussian_scale_to_accuracy,
}
NONE_POLARS = "not available: OpenDP gives no accuracy for these statistics"
NONE_MEASUREMENT = ("not available: OpenDP's accuracy is known for a pipeline that ends "
                    "with its Laplace or Gaussian noise")


def estimate_accuracy(pipeline: Pipeline, alpha: float) -> Accuracy:
    """Each released statistic's bound at 1 - alpha confidence."""
    try:
        if pipeline.polars:
            return _polars(pipeline.measurement, alpha)
        return _measurement(pipeline.measurement, alpha)
    except (OpenDPException, TypeError, ValueError, KeyError) as exc:
        log.warning("opendp accuracy estimate failed: %r", exc)
        return Accuracy.unavailable(alpha, "not available: OpenDP could not estimate it "
                                           "for this pipeline")


def _polars(measurement: Measurement, alpha: float) -> Accuracy:
    summary = acc.summarize_polars_measurement(measurement, alpha)
    columns = []
    for row in summary.iter_rows(named=True):
        bound = row.get("accuracy")
        columns.append(ColumnAccuracy(
            column=row["column"], statistic=f"{row['column']} ({row['aggregate']})",
            bound=None if bound is None else float(bound),
            reason=None if bound is not None else
            f"not available: OpenDP gives none for a {row['distribution']} release"))
    return Accuracy.of(alpha, columns, NONE_POLARS)


def _measurement(measurement: Measurement, alpha: float) -> Accuracy:
    noise = _final_noise(measurement)
    if noise is None:
        return Accuracy.unavailable(alpha, NONE_MEASUREMENT)
    mechanism, scale, integral = noise
    bound = float(NOISES[mechanism, integral](scale, alpha))
    name = "Laplace" if mechanism == "make_laplace" else "Gaussian"
    return Accuracy.of(alpha, [ColumnAccuracy(
        column="value", statistic=f"value ({'integer' if integral else 'float'} {name})",
        bound=bound)], NONE_MEASUREMENT)


def _final_noise(measurement: Measurement) -> tuple[str, float, bool] | None:
    """The last step's mechanism, scale and whether its input is integral, if it is a
    Laplace or Gaussian one (as the safe rebuild called its constructors)."""
    built: dict[str, Any] = getattr(measurement, "__opendp_dict__", {})
    if built.get("__function__") != "make_chain_mt":
        return None
    last = built["__kwargs__"]["measurement1"]
    made: dict[str, Any] = getattr(last, "__opendp_dict__", {})
    mechanism, scale = made.get("__function__"), made.get("__kwargs__", {}).get("scale")
    if (mechanism, True) not in NOISES or not isinstance(scale, int | float):
        return None
    carrier = str(last.input_domain.carrier_type)
    return str(mechanism), float(scale), not ("f32" in carrier or "f64" in carrier)
