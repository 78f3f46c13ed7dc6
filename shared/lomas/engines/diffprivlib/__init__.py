"""DiffPrivLib: a pipeline rebuilt from allowlists, priced as the sum of its steps' epsilon
before any data is read, fitted once in a child process under the fit time limit; the
fitted model comes back as JSON arrays, never a pickle.

Each step spends (its epsilon, 0) and diffprivlib counts each row as one person: with up
to `max_ids` rows per person the charge is max_ids times the sum (group privacy). The
score on the held-out split is released through OpenDP when `score_epsilon` > 0.
"""

from __future__ import annotations

from typing import Any

from lomas.domain import Capability, Dataset, PrivacyCost
from lomas.engines.base import Fit, PluggedEngine, Prepared
from lomas.errors import InvalidQuery
from lomas_contract.base import DatasetMetadata, DatasetRequest
from lomas_contract.engines.diffprivlib import SPEC, DiffPrivLibCostRequest, DiffPrivLibResult

MAX_CLASSES = 100
MAX_CELLS = 200_000_000
"""Rows x features a fit may load (1.6 GB of floats), by the metadata's row count."""


def prepare(dataset: Dataset, req: DatasetRequest) -> Prepared:
    """The pipeline checked against the metadata, and its cost. Raises InvalidQuery."""
    from lomas.engines.diffprivlib import pipeline, score

    assert isinstance(req, DiffPrivLibCostRequest)
    metadata = dataset.metadata
    features = _features(metadata, req.feature_columns)
    steps = pipeline.parse(req.diffprivlib_json, len(features))
    target = _target(metadata, steps, req.target_columns, features)
    if req.imputer_strategy != "drop":
        raise InvalidQuery(f"imputer_strategy {req.imputer_strategy!r} is refused: it would "
                           "compute a mean, a median or a mode of the private data outside "
                           "any DP mechanism. Use 'drop' (rows with a null are left out).")
    if metadata.rows is not None and metadata.rows * (len(features) + 1) > MAX_CELLS:
        raise InvalidQuery(f"{metadata.rows:,} rows x {len(features) + 1} columns is over the "
                           f"limit of {MAX_CELLS:,} values a fit may load.")
    if req.score_epsilon and not pipeline.supervised(steps):
        raise InvalidQuery(f"score_epsilon is for a classifier or a regressor; a pipeline "
                           f"ending in {steps[-1].type} has no score.")
    per_row = score.UNITS if pipeline.is_regressor(steps) else 1
    score_cost = score.cost(req.score_epsilon, metadata.max_ids, per_row)
    steps_epsilon = sum(s.epsilon for s in steps)
    cost = PrivacyCost(metadata.max_ids * steps_epsilon + score_cost, 0.0)
    spec: dict[str, Any] = {
        "steps": [{"name": s.name, "type": s.type, "params": s.params} for s in steps],
        "features": features, "target": target, "steps_epsilon": steps_epsilon,
        "test_size": req.test_size, "seed": req.test_train_split_seed,
        "score_epsilon": req.score_epsilon, "max_ids": metadata.max_ids,
        "anchors": _anchors(metadata, features, target) if pipeline.is_classifier(steps)
        else None,
        "target_range": _range(metadata, target["name"])
        if target is not None and pipeline.is_regressor(steps) else None,
    }
    columns = [f["name"] for f in features] + ([target["name"]] if target else [])
    return Prepared(cost, Capability.POLARS, Fit.unbound, fit=Fit(
        "diffprivlib", spec, columns, lambda answer: DiffPrivLibResult(**answer),
        ("diffprivlib", "sklearn")))


def _features(metadata: DatasetMetadata, names: list[str]) -> list[dict[str, Any]]:
    if len(set(names)) != len(names):
        raise InvalidQuery("feature_columns names a column twice.")
    out = []
    for name in names:
        col = metadata.columns.get(name)
        if col is None:
            raise InvalidQuery(f"Feature column {name!r} is not in the dataset's metadata.")
        if col.private_id:
            raise InvalidQuery(f"Column {name!r} is the private id: not a feature.")
        if col.type not in ("int", "float", "boolean"):
            raise InvalidQuery(f"Feature column {name!r} is a {col.type} column; the models "
                               "take numbers or booleans.")
        out.append({"name": name, "type": col.type, "lower": col.lower, "upper": col.upper})
    return out


def _target(metadata: DatasetMetadata, steps: list[Any], names: list[str] | None,
            features: list[dict[str, Any]]) -> dict[str, Any] | None:
    from lomas.engines.diffprivlib import pipeline

    names = [n for n in names or [] if n]  # the published client sends [""] for none
    last = steps[-1].type
    if not pipeline.supervised(steps):
        if names:
            raise InvalidQuery(f"A pipeline ending in {last} takes no target column.")
        return None
    if len(names) != 1:
        raise InvalidQuery(f"A {last} needs one target column (target_columns).")
    name = names[0]
    col = metadata.columns.get(name)
    if col is None:
        raise InvalidQuery(f"Target column {name!r} is not in the dataset's metadata.")
    if name in {f["name"] for f in features}:
        raise InvalidQuery(f"Column {name!r} is both a feature and the target.")
    if pipeline.is_classifier(steps):
        classes: list[Any] | None = [False, True] if col.type == "boolean" else (
            list(col.categories) if col.categories else None)
        if classes is None:
            raise InvalidQuery(f"A {last} needs a categorical target: column {name!r} has no "
                               "categories in the metadata (a string or int column with "
                               "categories, or a boolean).")
        if len(classes) > MAX_CLASSES:
            raise InvalidQuery(f"Target {name!r} has {len(classes)} categories, over "
                               f"{MAX_CLASSES}.")
        priors = steps[-1].params.get("priors")
        if priors is not None and len(priors) != len(classes):
            raise InvalidQuery(f"priors has {len(priors)} values for {len(classes)} classes.")
        return {"name": name, "classes": classes}
    if col.type not in ("int", "float") or col.lower is None or col.upper is None:
        raise InvalidQuery(f"A LinearRegression needs a numeric target with bounds: column "
                           f"{name!r} is a {col.type} column.")
    return {"name": name, "classes": None}


def _range(metadata: DatasetMetadata, name: str) -> list[float]:
    col = metadata.columns[name]
    assert isinstance(col.lower, int | float) and isinstance(col.upper, int | float)
    return [float(col.lower), float(col.upper)]


def _anchors(metadata: DatasetMetadata, features: list[dict[str, Any]],
             target: dict[str, Any] | None) -> list[list[Any]]:
    """One public row per class, features at the middle of their bounds: the fitted
    classifier then knows every class of the metadata, never only those present in the
    private rows (diffprivlib takes its classes from the data without noise)."""
    assert target is not None
    middle = [0.5 if f["type"] == "boolean" else (f["lower"] + f["upper"]) / 2
              for f in features]
    return [[*middle, label] for label in target["classes"]]


ENGINE = PluggedEngine(SPEC, prepare)
