"""DiffPrivLib's wire contract: a pipeline as JSON, a model back as plain arrays.

The pipeline is the published Lomas's `diffprivlib_logger` form (`serialise_pipeline`):
``{"module": "diffprivlib", "version": ..., "pipeline": [{"type": "_dpl_type:<Class>",
"name": ..., "params": {...}}]}``. The server rebuilds it from an allowlist of classes with
literal parameters only. The fitted model comes back as JSON arrays (`coef_`, `theta_`,
...), never a pickle; `released()` rebuilds a plain scikit-learn pipeline from them
(scikit-learn on the researcher's side: ``pip install 'lomas-client[sklearn]'``).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from lomas_contract.base import (
    AccuracyFields,
    DatasetRequest,
    DummyFields,
    EngineResult,
    EngineSpec,
)

MODULE = "diffprivlib"
VERSION = "0.6.6"
TYPE_PREFIX = "_dpl_type:"
INSTANCE_PREFIX = "_dpl_instance:"

TRANSFORMERS = ("StandardScaler", "PCA")
ESTIMATORS = ("LogisticRegression", "GaussianNB", "LinearRegression", "KMeans")
CLASSIFIERS = ("LogisticRegression", "GaussianNB")


class DiffPrivLibCostRequest(DatasetRequest):
    diffprivlib_json: str = Field(
        min_length=2, max_length=1_000_000,
        description="The pipeline in diffprivlib_logger's JSON form (serialise_pipeline).")
    feature_columns: list[str] = Field(min_length=1, max_length=500)
    target_columns: list[str] | None = Field(
        default=None, max_length=1, description="The one column a classifier or a regressor "
        "predicts; none for KMeans, PCA or a scaler.")
    test_size: float = Field(default=0.2, gt=0, lt=1)
    test_train_split_seed: int = 1
    imputer_strategy: str = Field(
        default="drop", description="Only 'drop' (rows with a null in a used column): the "
        "others would compute a mean, a median or a mode of the private data outside any "
        "DP mechanism.")
    score_epsilon: float = Field(
        default=0.0, ge=0, le=10, allow_inf_nan=False,
        description="Spend this much more to release the model's score on the held-out "
        "split through a DP mechanism (accuracy for a classifier, mean squared error for "
        "a regressor); 0: no score.")


class DiffPrivLibEstimateRequest(DiffPrivLibCostRequest, AccuracyFields):
    """/estimate_diffprivlib_cost: the fit's priced fields, and alpha."""


class DiffPrivLibRequest(DiffPrivLibCostRequest):
    pass


class DiffPrivLibDummyRequest(DiffPrivLibRequest, DummyFields):
    pass


@dataclass(frozen=True)
class TrainedModel:
    """What a DiffPrivLib query released, as a researcher uses it."""

    estimator: Any
    """A plain scikit-learn Pipeline that predicts as the server's model did."""
    score: float | None
    score_metric: str | None
    model: dict[str, Any]
    """The fitted steps as JSON arrays (what `estimator` was rebuilt from)."""


class DiffPrivLibResult(EngineResult):
    type: Literal["diffprivlib"] = "diffprivlib"
    model: dict[str, Any]
    """{"steps": [{"name", "type", "params", "fitted": {attribute: array}}], ...}."""
    score: float | None = None
    score_metric: str | None = None

    def released(self) -> Any:
        return TrainedModel(rebuild(self.model), self.score, self.score_metric, self.model)


SPEC = EngineSpec("diffprivlib", "DiffPrivLib", DiffPrivLibEstimateRequest, DiffPrivLibRequest,
                  DiffPrivLibDummyRequest, DiffPrivLibResult)


# ------------------------------------------------------------ both sides ---
def serialise_pipeline(pipeline: Any) -> str:
    """A scikit-learn Pipeline of diffprivlib models in diffprivlib_logger's JSON form,
    read from the steps' constructor parameters (diffprivlib need not be imported here).
    Raises ValueError for a step that is not a diffprivlib model."""
    steps = []
    for name, step in getattr(pipeline, "steps", None) or []:
        cls = type(step)
        if not cls.__module__.startswith(MODULE + "."):
            raise ValueError(f"step {name!r} is a {cls.__module__}.{cls.__name__}, not a "
                             "diffprivlib model")
        names = [p for p in inspect.signature(cls).parameters if p not in ("unused_args",)]
        params = {p: _hinted(getattr(step, p)) for p in names if hasattr(step, p)}
        steps.append({"type": TYPE_PREFIX + cls.__name__, "name": name, "params": params})
    if not steps:
        raise ValueError("the pipeline must be a sklearn.pipeline.Pipeline with steps")
    return json.dumps({"module": MODULE, "version": VERSION, "pipeline": steps})


def _hinted(value: Any) -> Any:
    """diffprivlib_logger's encoding: tuples tagged, an accountant by its class name."""
    if isinstance(value, tuple):
        return {"_tuple": True, "_items": [_hinted(v) for v in value]}
    if isinstance(value, list):
        return [_hinted(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if value is not None and not isinstance(value, str | int | float | bool | dict):
        return INSTANCE_PREFIX + type(value).__name__
    return value


def rebuild(model: dict[str, Any]) -> Any:
    """A plain scikit-learn Pipeline from a released model's arrays (needs scikit-learn)."""
    try:
        import numpy as np
        from sklearn import cluster, decomposition, linear_model, naive_bayes, preprocessing
        from sklearn.pipeline import Pipeline
    except ImportError as exc:  # pragma: no cover - the client's optional extra
        raise ImportError("Rebuilding the model needs scikit-learn: "
                          "pip install 'lomas-client[sklearn]'") from exc
    classes = {"StandardScaler": preprocessing.StandardScaler, "PCA": decomposition.PCA,
               "LogisticRegression": linear_model.LogisticRegression,
               "LinearRegression": linear_model.LinearRegression,
               "GaussianNB": naive_bayes.GaussianNB, "KMeans": cluster.KMeans}
    steps = []
    for step in model["steps"]:
        estimator = classes[step["type"]](**step.get("params", {}))
        for attribute, value in step["fitted"].items():
            setattr(estimator, attribute, np.asarray(value) if isinstance(value, list)
                    else value)
        if step["type"] == "KMeans":
            estimator._n_threads = 1  # what predict reads; set by fit in scikit-learn
        steps.append((step["name"], estimator))
    return Pipeline(steps)
