"""A DiffPrivLib pipeline read from JSON through allowlists, and priced without a fit.

The JSON is diffprivlib_logger's form. A step's class is looked up in `ALLOWED` (never
imported by the name the payload gives), and each of its parameters must be on the
class's allowlist with a literal value in range. What diffprivlib would compute from the
data when it is missing (bounds, `data_norm`: a PrivacyLeakWarning) is refused here,
before any charge, as is a fixed `random_state` (it would fix the noise). Each step
spends (its epsilon, 0) once per fit, so the pipeline's cost is the sum of its steps'.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lomas.errors import InvalidQuery
from lomas_contract.engines.diffprivlib import (
    CLASSIFIERS,
    ESTIMATORS,
    INSTANCE_PREFIX,
    MODULE,
    TRANSFORMERS,
    TYPE_PREFIX,
)

MAX_STEPS = 8
MAX_CLUSTERS = 100
MAX_EPSILON = 100.0


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    params: dict[str, Any]

    @property
    def epsilon(self) -> float:
        return float(self.params.get("epsilon", 1.0))  # diffprivlib's default


class Bad(ValueError):
    """A parameter's value is not allowed (the message says what is expected)."""


def _number(low: float = 0.0, high: float = math.inf, *, integer: bool = False,
            open_low: bool = True) -> Callable[[Any, int], Any]:
    def check(value: Any, width: int) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                integer and not isinstance(value, int)) or not math.isfinite(value) or (
                value < low or (open_low and value == low)) or value > high:
            kind = "an integer" if integer else "a number"
            raise Bad(f"{kind} in {'(' if open_low else '['}{low:g}, {high:g}]")
        return value
    return check


def _const(*allowed: Any) -> Callable[[Any, int], Any]:
    def check(value: Any, width: int) -> Any:
        if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
            raise Bad(" or ".join(json.dumps(a) for a in allowed))
        return value
    return check


BOOL = _const(True, False)
EPSILON = _number(0, MAX_EPSILON)
POSITIVE = _number(0)


def _bounds(value: Any, width: int) -> Any:
    """(lower, upper): two lists of `width` finite numbers (or two numbers), lower < upper."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise Bad("a pair (lower, upper)")
    lower, upper = (list(v) if isinstance(v, tuple | list) else [v] * width for v in value)
    if len(lower) != width or len(upper) != width:
        raise Bad(f"a pair of lists of {width} numbers (one per feature)")
    for lo, hi in zip(lower, upper, strict=True):
        _number(-math.inf, math.inf, open_low=False)(lo, width)
        _number(-math.inf, math.inf, open_low=False)(hi, width)
        if not lo < hi:
            raise Bad("lower bounds below the upper bounds")
    return (lower, upper)


def _scalar_bounds(value: Any, width: int) -> Any:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise Bad("a pair of numbers (lower, upper)")
    lo, hi = (_number(-math.inf, math.inf, open_low=False)(v, 1) for v in value)
    if not lo < hi:
        raise Bad("lower below upper")
    return (lo, hi)


def _components(value: Any, width: int) -> Any:
    return _number(1, width, integer=True, open_low=False)(value, width)


def _priors(value: Any, width: int) -> Any:
    if not isinstance(value, list) or not value:
        raise Bad("a list of class probabilities")
    for v in value:
        _number(0, 1, open_low=False)(v, width)
    if abs(sum(value) - 1) > 1e-9:
        raise Bad("probabilities that sum to 1")
    return value


def _no_seed(value: Any, width: int) -> Any:
    if value is not None:
        raise Bad("null: a fixed seed would fix the noise, and the noise must stay secret")
    return value


COMMON = {"epsilon": EPSILON, "random_state": _no_seed, "accountant": _const(None)}

ALLOWED: dict[str, dict[str, Callable[[Any, int], Any]]] = {
    "StandardScaler": {**COMMON, "bounds": _bounds, "copy": BOOL, "with_mean": BOOL,
                       "with_std": BOOL},
    "PCA": {**COMMON, "n_components": _components, "data_norm": POSITIVE, "centered": BOOL,
            "bounds": _bounds, "copy": BOOL, "whiten": BOOL},
    "LogisticRegression": {**COMMON, "data_norm": POSITIVE, "tol": POSITIVE, "C": POSITIVE,
                           "fit_intercept": BOOL, "max_iter": _number(1, 10_000, integer=True),
                           "verbose": _const(0), "warm_start": _const(False),
                           "n_jobs": _const(None, 1)},
    "GaussianNB": {**COMMON, "bounds": _bounds, "priors": _priors, "var_smoothing": POSITIVE},
    "LinearRegression": {**COMMON, "bounds_X": _bounds, "bounds_y": _scalar_bounds,
                         "fit_intercept": BOOL, "copy_X": BOOL},
    "KMeans": {**COMMON, "n_clusters": _number(1, MAX_CLUSTERS, integer=True),
               "bounds": _bounds},
}
assert set(ALLOWED) == set(TRANSFORMERS) | set(ESTIMATORS)

REQUIRED: dict[str, tuple[str, ...]] = {
    "StandardScaler": ("bounds",), "PCA": ("data_norm",), "LogisticRegression": ("data_norm",),
    "GaussianNB": ("bounds",), "LinearRegression": ("bounds_X", "bounds_y"),
    "KMeans": ("bounds",),
}
"""What diffprivlib would otherwise compute from the data (a PrivacyLeakWarning)."""


def parse(text: str, width: int) -> list[Step]:
    """The steps, each checked against its class's allowlist; `width` is the number of
    feature columns. Raises InvalidQuery naming what is not allowed."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidQuery(f"diffprivlib_json is not JSON: {exc.msg}.") from None
    if not isinstance(body, dict) or body.get("module") != MODULE \
            or not isinstance(body.get("pipeline"), list):
        raise InvalidQuery('diffprivlib_json must be {"module": "diffprivlib", "version": ..., '
                           '"pipeline": [...]}, as diffprivlib_logger.serialise_pipeline '
                           "writes it.")
    version = body.get("version")
    if not (isinstance(version, str) and version.startswith("0.6.")):
        raise InvalidQuery(f"The pipeline was written with diffprivlib {version!r}; the server "
                           "runs diffprivlib 0.6.6.")
    raw = body["pipeline"]
    if not 1 <= len(raw) <= MAX_STEPS:
        raise InvalidQuery(f"The pipeline must have 1 to {MAX_STEPS} steps.")
    steps: list[Step] = []
    for position, item in enumerate(raw):
        step = _step(item, width, last=position == len(raw) - 1)
        if step.name in {s.name for s in steps}:
            raise InvalidQuery(f"Two steps are named {step.name!r}.")
        steps.append(step)
        if step.type == "PCA":
            width = step.params.get("n_components") or width
    return steps


def _step(item: Any, width: int, *, last: bool) -> Step:
    if not isinstance(item, dict) or set(item) != {"type", "name", "params"}:
        raise InvalidQuery('Each step must be {"type", "name", "params"}.')
    kind, name, params = item["type"], item["name"], item["params"]
    if not isinstance(name, str) or not name.isidentifier() or len(name) > 64:
        raise InvalidQuery(f"Step name {name!r} must be an identifier.")
    cls = kind[len(TYPE_PREFIX):] if isinstance(kind, str) and kind.startswith(TYPE_PREFIX) \
        else None
    if cls not in ALLOWED:
        raise InvalidQuery(f"Step {name!r}: {kind!r} is not allowed; allowed: "
                           f"{', '.join(TYPE_PREFIX + c for c in ALLOWED)}.")
    if cls in ESTIMATORS and not last:
        raise InvalidQuery(f"Step {name!r}: a {cls} can only be the pipeline's last step.")
    if not isinstance(params, dict):
        raise InvalidQuery(f"Step {name!r}: params must be an object.")
    allowed = ALLOWED[cls]
    checked: dict[str, Any] = {}
    for key, value in params.items():
        if key not in allowed:
            raise InvalidQuery(f"Step {name!r}: parameter {key!r} is not allowed for {cls}; "
                               f"allowed: {', '.join(allowed)}.")
        value = _literal(name, key, value)
        try:
            value = allowed[key](value, width)
        except Bad as exc:
            raise InvalidQuery(f"Step {name!r}: {key} must be {exc}.") from None
        if key not in ("accountant", "random_state"):  # the fit sets both (None: secret)
            checked[key] = value
    missing = [k for k in REQUIRED[cls] if checked.get(k) is None]
    if cls == "PCA" and not checked.get("centered") and checked.get("bounds") is None:
        missing.append("bounds")
    if missing:
        raise InvalidQuery(f"Step {name!r}: {cls} needs {' and '.join(missing)}: without "
                           "them diffprivlib would compute them from the data, outside the "
                           "privacy budget (a PrivacyLeakWarning).")
    return Step(name, cls, checked)


def _literal(step: str, key: str, value: Any) -> Any:
    """A JSON literal: numbers, strings, booleans, null, lists, and diffprivlib_logger's
    tagged tuples; an accountant by its class name becomes ours (null)."""
    if isinstance(value, dict):
        if set(value) == {"_tuple", "_items"} and value["_tuple"] is True \
                and isinstance(value["_items"], list):
            return tuple(_literal(step, key, v) for v in value["_items"])
        raise InvalidQuery(f"Step {step!r}: {key} holds an object, where only literals are "
                           "allowed.")
    if isinstance(value, list):
        return [_literal(step, key, v) for v in value]
    if isinstance(value, str) and value.startswith(("_dpl_", INSTANCE_PREFIX)):
        if key == "accountant" and value == INSTANCE_PREFIX + "BudgetAccountant":
            return None  # every fit gets its own accountant
        raise InvalidQuery(f"Step {step!r}: {key} may not name a class ({value!r}).")
    return value


def is_classifier(steps: list[Step]) -> bool:
    return steps[-1].type in CLASSIFIERS


def is_regressor(steps: list[Step]) -> bool:
    return steps[-1].type == "LinearRegression"


def supervised(steps: list[Step]) -> bool:
    return is_classifier(steps) or is_regressor(steps)
