"""The OpenDP engine: safe rebuild, exact cost, one execution.

Two forms. A Measurement reads the dataset as Lomas has always given it to
OpenDP: CSV text without header, columns in metadata order, so it starts with
`make_split_dataframe(",", col_names=<the dataset's columns>)`. A polars query
(`opendp_polars`) reads it as a LazyFrame whose domain comes from the metadata.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import opendp.prelude as dp
from opendp.mod import Measurement, OpenDPException

from lomas.data.frames import to_tight
from lomas.domain import PrivacyCost
from lomas.engines.opendp import polars_plan
from lomas.engines.opendp.safe import rebuild
from lomas.errors import ExternalLibraryError, InvalidQuery
from lomas.ports import Handle
from lomas_contract.engines.opendp import POLARS_KEY, OpenDPResult
from lomas_contract.models import DatasetMetadata

log = logging.getLogger(__name__)

dp.enable_features("contrib")


def _split_columns(tree: Any) -> list[list[str]]:
    """The col_names of every make_split_dataframe in the (already allowlisted) tree."""
    found: list[list[str]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("__function__") == "make_split_dataframe":
                found.append(node.get("__kwargs__", {}).get("col_names"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@dataclass(frozen=True)
class Pipeline:
    measurement: Measurement
    polars: bool


def build(metadata: DatasetMetadata, opendp_json: str) -> Pipeline:
    """The request's pipeline, checked against the dataset. Raises InvalidQuery."""
    try:
        tree = json.loads(opendp_json)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidQuery("opendp_json is not valid JSON.") from exc
    if isinstance(tree, dict) and set(tree) == {POLARS_KEY}:
        return Pipeline(polars_plan.build(metadata, tree[POLARS_KEY]), polars=True)
    return Pipeline(_measurement(metadata, tree), polars=False)


def _measurement(metadata: DatasetMetadata, tree: Any) -> Measurement:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        measurement = rebuild(tree)
    if not isinstance(measurement, Measurement):
        raise InvalidQuery("opendp_json must describe an OpenDP Measurement.")
    if measurement.input_domain != dp.atom_domain(T=str) or \
            measurement.input_metric != dp.symmetric_distance():
        raise InvalidQuery(
            "The pipeline's input must be the dataset as CSV text: AtomDomain(T=String) "
            "with SymmetricDistance, starting with make_split_dataframe.")
    columns, splits = list(metadata.columns), _split_columns(tree)
    if not splits:
        raise InvalidQuery("The pipeline must start with make_split_dataframe.")
    if any(names != columns for names in splits):
        raise InvalidQuery(f"make_split_dataframe must name the dataset's columns "
                           f"in order: {columns}.")
    return measurement


def cost(measurement: Measurement, metadata: DatasetMetadata,
         fixed_delta: float | None) -> PrivacyCost:
    """What OpenDP itself maps the pipeline to at the dataset's contribution bound."""
    d_in = metadata.max_ids
    measure = str(measurement.output_measure)
    try:
        if measure == "MaxDivergence":
            return _pair(measurement.map(d_in), 0.0)
        if measure.startswith("Approximate("):
            epsilon, delta = measurement.map(d_in)
            return _pair(epsilon, delta)
        if measure in ("ZeroConcentratedDivergence", "SmoothedMaxDivergence"):
            if fixed_delta is None:
                raise InvalidQuery(f"A {measure} pipeline needs fixed_delta to be charged "
                                   "in (epsilon, delta).")
            if measure == "ZeroConcentratedDivergence":
                measurement = dp.c.make_zCDP_to_approxDP(measurement)
            return _pair(measurement.map(d_in).epsilon(fixed_delta), fixed_delta)
    except OpenDPException as exc:
        raise InvalidQuery(f"OpenDP cannot map this pipeline: {exc.message}") from exc
    raise InvalidQuery(f"Unsupported privacy measure {measure}.")


def _pair(epsilon: Any, delta: Any) -> PrivacyCost:
    epsilon, delta = float(epsilon), float(delta)
    if not (math.isfinite(epsilon) and math.isfinite(delta)):
        raise InvalidQuery("The pipeline's privacy loss is not finite.")
    return PrivacyCost(epsilon, delta)


def execute(pipeline: Pipeline, handle: Handle, metadata: DatasetMetadata) -> OpenDPResult:
    """Run once on the dataset: a polars query on its LazyFrame, a Measurement on its rows
    as CSV text. Raises ExternalLibraryError."""
    try:
        if pipeline.polars:
            released = pipeline.measurement(polars_plan.as_input(handle.lazy(), metadata))
            return OpenDPResult(df=to_tight(released.collect().to_pandas()))
        value = pipeline.measurement(handle.frame().to_csv(header=False, index=False))
    except (OpenDPException, TypeError, ValueError) as exc:
        log.warning("opendp execution failed: %r", exc)
        raise ExternalLibraryError(f"OpenDP failed: {str(exc).strip()[:200]}") from exc
    return OpenDPResult(value=json.loads(json.dumps(value, default=_plain)))


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise ExternalLibraryError(f"OpenDP returned a {type(value).__name__}, not a number or list.")
