"""OpenDP polars queries: the plan's JSON is vetted before polars ever reads it.

A polars plan can carry a pickled Python function (run when the plan is
explained or collected), scan files or URLs, and name any plugin library. The
JSON form is walked first: every node kind and field must be on an allowlist;
plugins must be OpenDP's own functions, and their library path is replaced by
the server's; the data source must be the dataset's own (empty) frame, which
is replaced by the server's. Only then is the plan deserialized, and OpenDP's
make_private_lazyframe checks it against the dataset's domain.
"""

from __future__ import annotations

import functools
import io
import json
import math
import warnings
from pathlib import PurePath
from typing import Any

import opendp.prelude as dp
import polars as pl
from opendp.mod import Measurement, OpenDPException

from lomas.errors import InvalidQuery
from lomas_contract.engines.opendp import plan_json, polars_input_domain, polars_schema
from lomas_contract.models import DatasetMetadata

VARIANTS = {
    "Select", "HStack", "Filter", "GroupBy", "DataFrameScan",  # plan nodes
    "Alias", "BinaryExpr", "Column", "Literal", "Function", "Cast", "Ternary",  # expressions
    "FfiPlugin", "Boolean", "Dyn", "Scalar", "Float", "Int", "Null", "Series", "String",
    "Bool", "Len",
}
FIELDS = {
    "input", "expr", "exprs", "options", "predicate", "keys", "aggs", "maintain_order",
    "apply", "left", "op", "right", "function", "flags", "check_lengths", "lib", "symbol",
    "kwargs", "df", "schema", "fields", "run_parallel", "duplicate_check", "should_broadcast",
    "slice", "dynamic", "rolling", "dtype", "strict", "truthy", "falsy", "name",
}
SYMBOLS = {"dp_frame_len", "dp_len", "dp_count", "dp_null_count", "dp_n_unique", "dp_sum",
           "dp_mean", "dp_median", "dp_quantile"}
MEASURES = {
    "MaxDivergence": dp.max_divergence,
    "ZeroConcentratedDivergence": dp.zero_concentrated_divergence,
    "Approximate(MaxDivergence)": lambda: dp.approximate(dp.max_divergence()),
    "Approximate(ZeroConcentratedDivergence)":
        lambda: dp.approximate(dp.zero_concentrated_divergence()),
}
MAX_DEPTH, MAX_NODES = 200, 50_000


@functools.cache
def _opendp_library() -> str:
    """The plugin library path as this server's polars writes it."""
    plan = pl.LazyFrame(schema={"x": pl.Int64}).select(dp.len())
    return _find(plan_json(plan), "FfiPlugin")["lib"]


def _scan_node(metadata: DatasetMetadata) -> dict[str, Any]:
    return plan_json(pl.LazyFrame(schema=polars_schema(metadata)))["DataFrameScan"]


def _find(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        if key in node:
            return node[key]
        node = list(node.values())
    if isinstance(node, list):
        for value in node:
            if (found := _find(value, key)) is not None:
                return found
    return None


class _Vetter:
    def __init__(self, metadata: DatasetMetadata) -> None:
        self.scan = _scan_node(metadata)
        self.scans = 0
        self.nodes = 0

    def vet(self, node: Any, depth: int = 0, parent: str = "") -> Any:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise InvalidQuery("Polars plan: too deeply nested or too large.")
        if isinstance(node, list):
            return [self.vet(v, depth + 1, parent) for v in node]
        if not isinstance(node, dict):
            return node
        if parent == "fields":  # a schema: column name -> plain dtype name
            plain = {"Int64", "Int32", "Float64", "Float32", "String", "Boolean", "UInt32"}
            if not all(isinstance(v, str) and v in plain for v in node.values()):
                raise InvalidQuery("Polars plan: schemas may hold only plain column types.")
            return node
        vetted: dict[str, Any] = {}
        for key, value in node.items():
            if key == "DataFrameScan":
                vetted[key] = self._scan(value)
            elif key == "FfiPlugin":
                vetted[key] = self._plugin(value)
            elif key == "Series":
                vetted[key] = _series(value)
            elif key in VARIANTS or key in FIELDS:
                vetted[key] = self.vet(value, depth + 1, key)
            else:
                raise InvalidQuery(f"Polars plan: {key!r} is not allowed in an OpenDP query "
                                   "(no Python functions, file or URL scans, or other plugins).")
        return vetted

    def _scan(self, value: Any) -> dict[str, Any]:
        self.scans += 1
        schema = value.get("schema") if isinstance(value, dict) else None
        if schema != self.scan["schema"]:
            raise InvalidQuery("Polars plan: the query must read the dataset's own columns "
                               f"and types: {list(self.scan['schema']['fields'])}.")
        return self.scan  # the server's own empty frame, never the client's bytes

    def _plugin(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or value.get("symbol") not in SYMBOLS:
            raise InvalidQuery("Polars plan: only OpenDP's own plugin functions are allowed.")
        lib = PurePath(str(value.get("lib", "")).replace("\\", "/"))
        if not (lib.name.startswith("opendp") and "opendp" in lib.parts[:-1]):
            raise InvalidQuery("Polars plan: plugins must come from the OpenDP library.")
        if value.get("kwargs") not in ([], None, b""):
            raise InvalidQuery("Polars plan: plugin arguments must be plan literals.")
        flags = value.get("flags")
        if not isinstance(flags, dict) or not set(flags) <= {"check_lengths", "flags"}:
            raise InvalidQuery("Polars plan: unexpected plugin flags.")
        return {"flags": flags, "lib": _opendp_library(), "symbol": value["symbol"],
                "kwargs": []}


MAX_SERIES_BYTES = 1 << 20


def _series(value: Any) -> list[int]:
    """A literal Series: Arrow IPC bytes of plain numbers, strings or booleans only.

    Polars stores Python objects in Series with pickle; such a literal, or any
    Arrow extension type, is refused. Decoding with pyarrow reads data only.
    """
    import pyarrow as pa

    if not (isinstance(value, list) and len(value) <= MAX_SERIES_BYTES
            and all(isinstance(b, int) and 0 <= b < 256 for b in value)):
        raise InvalidQuery("Polars plan: a literal Series must be bytes.")
    try:
        schema = pa.ipc.open_stream(bytes(value)).schema
    except (pa.ArrowException, ValueError) as exc:
        raise InvalidQuery("Polars plan: a literal Series is not readable data.") from exc
    for field in schema:
        plain = (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
                 or pa.types.is_boolean(field.type) or pa.types.is_string(field.type)
                 or pa.types.is_large_string(field.type) or pa.types.is_string_view(field.type))
        if not plain or any(k.startswith(b"ARROW:extension") for k in field.metadata or {}):
            raise InvalidQuery("Polars plan: literal Series may hold only numbers, strings "
                               "or booleans.")
    return value


def build(metadata: DatasetMetadata, query: Any) -> Measurement:
    """The polars query as an OpenDP Measurement on the dataset. Raises InvalidQuery."""
    if not isinstance(query, dict) or set(query) != {"plan", "global_scale", "threshold",
                                                      "output_measure"}:
        raise InvalidQuery("A polars query needs plan, global_scale, threshold, output_measure.")
    scale, threshold = query["global_scale"], query["threshold"]
    if scale is not None and not (isinstance(scale, int | float) and math.isfinite(scale)
                                  and scale >= 0):
        raise InvalidQuery("global_scale must be a non-negative number.")
    if threshold is not None and not (isinstance(threshold, int) and threshold >= 0):
        raise InvalidQuery("threshold must be a non-negative integer.")
    measure = MEASURES.get(query["output_measure"])
    if measure is None:
        raise InvalidQuery(f"output_measure must be one of {sorted(MEASURES)}.")
    vetter = _Vetter(metadata)
    plan = vetter.vet(query["plan"])
    if vetter.scans != 1:
        raise InvalidQuery("Polars plan: it must read the dataset exactly once.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            lazyframe = pl.LazyFrame.deserialize(io.StringIO(json.dumps(plan)), format="json")
        return dp.m.make_private_lazyframe(
            input_domain=polars_input_domain(metadata), input_metric=dp.symmetric_distance(),
            output_measure=measure(), lazyframe=lazyframe,
            global_scale=None if scale is None else float(scale), threshold=threshold)
    except (OpenDPException, pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        text = str(exc).strip().splitlines()
        raise InvalidQuery(f"OpenDP refused the polars query: {text[-1][:300] if text else ''}"
                           ) from exc


def as_input(data: pl.LazyFrame, metadata: DatasetMetadata) -> pl.LazyFrame:
    """The dataset's columns in the query's domain: its columns, cast to its dtypes."""
    schema = polars_schema(metadata)
    return data.select(list(schema)).cast(schema)  # type: ignore[arg-type]
