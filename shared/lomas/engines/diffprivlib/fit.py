"""The fit, in the child process (`lomas.engines.isolation`): split, fit once, export.

A PrivacyLeakWarning or a DiffprivlibCompatibilityWarning is an error here (the checks
before the charge refuse what raises them; this is the last guard). The budget
accountant's total after the fit must be what the request was priced at.
"""

from __future__ import annotations

import warnings
from typing import Any

from lomas.engines.diffprivlib import score

EXPORTED = {
    "StandardScaler": ("mean_", "scale_", "var_"),
    "PCA": ("components_", "mean_", "explained_variance_", "n_components_"),
    "LogisticRegression": ("coef_", "intercept_", "classes_"),
    "LinearRegression": ("coef_", "intercept_"),
    "GaussianNB": ("theta_", "var_", "class_prior_", "classes_"),
    "KMeans": ("cluster_centers_",),
}
"""The fitted attributes a plain scikit-learn estimator predicts with. Counts of the
private rows (n_samples_seen_, class_count_, ...) are never exported."""

BOUNDS = ("bounds", "bounds_X", "bounds_y")

KEPT_PARAMS = {
    "StandardScaler": ("with_mean", "with_std"), "PCA": ("n_components", "whiten"),
    "LogisticRegression": ("fit_intercept",), "LinearRegression": ("fit_intercept",),
    "GaussianNB": (), "KMeans": ("n_clusters",),
}
"""The constructor parameters the rebuilt scikit-learn estimator takes from the request."""


def run(spec: dict[str, Any], frame: Any) -> dict[str, Any]:
    fitted, _, X_test, y_test = fit_pipeline(spec, frame)
    answer: dict[str, Any] = {"model": export(fitted, spec)}
    if spec["score_epsilon"] and y_test is not None and len(X_test):
        answer |= _score(fitted, spec, X_test, y_test)
    return answer


def fit_pipeline(spec: dict[str, Any], frame: Any) -> tuple[Any, Any, Any, Any]:
    """(the fitted diffprivlib pipeline, its accountant, the held-out X and y)."""
    import numpy as np
    import pandas as pd
    from diffprivlib import models
    from diffprivlib.accountant import BudgetAccountant
    from diffprivlib.utils import DiffprivlibCompatibilityWarning, PrivacyLeakWarning
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline

    features = [f["name"] for f in spec["features"]]
    target = spec["target"]["name"] if spec["target"] else None
    data = frame.to_pandas().dropna()  # imputer_strategy "drop"
    X = data[features].astype(float).to_numpy()
    y = data[target].to_numpy() if target else None
    if y is not None:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=spec["test_size"], random_state=spec["seed"])
    else:
        X_train, X_test = train_test_split(X, test_size=spec["test_size"],
                                           random_state=spec["seed"])
        y_train = y_test = None
    if spec["anchors"]:  # public rows: one per class of the metadata
        anchors = pd.DataFrame(spec["anchors"], columns=[*features, target])
        X_train = np.vstack([X_train, anchors[features].astype(float).to_numpy()])
        y_train = np.concatenate([y_train, anchors[target].to_numpy().astype(y_train.dtype)])

    accountant = BudgetAccountant()
    steps = [(s["name"], getattr(models, s["type"])(**_params(s["params"]),
                                                     accountant=accountant))
             for s in spec["steps"]]  # s["type"] is one of ALLOWED's keys (checked)
    fitted = Pipeline(steps)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        warnings.simplefilter("error", DiffprivlibCompatibilityWarning)
        fitted.fit(X_train, y_train)
    total = accountant.total()
    assert (float(total[0]), float(total[1])) == (spec["steps_epsilon"], 0.0), \
        "diffprivlib spent other than the request was priced at"
    return fitted, accountant, X_test, y_test


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """Bounds as diffprivlib takes them: tuples (JSON made them lists)."""
    return {k: tuple(v) if k in BOUNDS and v is not None else v for k, v in params.items()}


def export(fitted: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's fitted steps as JSON arrays."""
    import numpy as np

    steps = []
    for (name, step), described in zip(fitted.steps, spec["steps"], strict=True):
        kind = described["type"]
        params = {k: described["params"][k] for k in KEPT_PARAMS[kind]
                  if k in described["params"]}
        values = {a: getattr(step, a) for a in EXPORTED[kind] if hasattr(step, a)}
        values["n_features_in_"] = int(np.shape(step.components_)[1]) if kind == "PCA" \
            else getattr(step, "n_features_in_", None)
        steps.append({"name": name, "type": kind, "params": params,
                      "fitted": {a: _plain(v) for a, v in values.items() if v is not None}})
    return {"steps": steps, "feature_columns": [f["name"] for f in spec["features"]],
            "target_column": spec["target"]["name"] if spec["target"] else None}


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _score(fitted: Any, spec: dict[str, Any], X_test: Any, y_test: Any) -> dict[str, Any]:
    import numpy as np

    predicted = fitted.predict(X_test)
    if spec["target_range"] is None:  # a classifier: the share of correct predictions
        values = (predicted == y_test).astype(int).tolist()
        accuracy = score.release(spec["score_epsilon"], spec["max_ids"], 1, values)
        return {"score": accuracy, "score_metric": "accuracy"}
    lower, upper = spec["target_range"]
    limit = (upper - lower) ** 2
    squared = np.clip((predicted - y_test.astype(float)) ** 2, 0, limit)
    values = np.rint(squared / limit * score.UNITS).astype(int).tolist()
    share = score.release(spec["score_epsilon"], spec["max_ids"], score.UNITS, values)
    return {"score": share * limit, "score_metric": "mean_squared_error"}
