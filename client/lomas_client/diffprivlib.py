"""DiffPrivLib queries from the client, with the published Lomas's argument names.

The pipeline is a scikit-learn Pipeline of diffprivlib models (or its JSON form); it is
sent as JSON. What comes back is a `TrainedModel`: a plain scikit-learn pipeline rebuilt
from the fitted arrays (`pip install 'lomas-client[sklearn]'`), and the DP score.
"""

from __future__ import annotations

from typing import Any

from lomas_client.engines import EngineClient
from lomas_client.jobs import Job
from lomas_contract import models as m
from lomas_contract.engines.diffprivlib import serialise_pipeline


class DiffPrivLibClient(EngineClient):
    """`client.diffprivlib.query(pipeline, feature_columns=[...], target_columns=[...])`."""

    @staticmethod
    def _fields(pipeline: Any, feature_columns: list[str], target_columns: list[str] | None,
                test_size: float, test_train_split_seed: int, imputer_strategy: str,
                score_epsilon: float) -> dict[str, Any]:
        text = pipeline if isinstance(pipeline, str) else serialise_pipeline(pipeline)
        return {"diffprivlib_json": text, "feature_columns": list(feature_columns),
                "target_columns": [c for c in target_columns or [] if c] or None,
                "test_size": test_size, "test_train_split_seed": test_train_split_seed,
                "imputer_strategy": imputer_strategy, "score_epsilon": score_epsilon}

    def cost(self, pipeline: Any, feature_columns: list[str],  # type: ignore[override]
             target_columns: list[str] | None = None, test_size: float = 0.2,
             test_train_split_seed: int = 1, imputer_strategy: str = "drop",
             score_epsilon: float = 0.0, alpha: float = m.DEFAULT_ALPHA) -> m.CostResponse:
        """The sum of the steps' epsilon (and score_epsilon); nothing is spent or read. Its
        accuracy says "not available": a model's cannot be told before the fit."""
        return self._cost(self._fields(pipeline, feature_columns, target_columns, test_size,
                                       test_train_split_seed, imputer_strategy,
                                       score_epsilon), alpha)

    def query(self, pipeline: Any, feature_columns: list[str],  # type: ignore[override]
              target_columns: list[str] | None = None, test_size: float = 0.2,
              test_train_split_seed: int = 1, imputer_strategy: str = "drop",
              score_epsilon: float = 0.0, dummy: bool = False, nb_rows: int = 100,
              seed: int = 42) -> Any:
        """Fit the pipeline on the dataset (dummy=True: on dummy data, free). Returns a
        TrainedModel: `.estimator` (scikit-learn), `.score` (DP, if score_epsilon > 0)."""
        return self._run(self._fields(pipeline, feature_columns, target_columns, test_size,
                                      test_train_split_seed, imputer_strategy, score_epsilon),
                         dummy, nb_rows, seed, wait=True)

    def submit(self, pipeline: Any, feature_columns: list[str],  # type: ignore[override]
               target_columns: list[str] | None = None, test_size: float = 0.2,
               test_train_split_seed: int = 1, imputer_strategy: str = "drop",
               score_epsilon: float = 0.0, dummy: bool = False, nb_rows: int = 100,
               seed: int = 42) -> Job:
        """Start the fit and return at once: `job.status()`, `job.result(timeout)`."""
        return self._run(self._fields(pipeline, feature_columns, target_columns, test_size,
                                      test_train_split_seed, imputer_strategy, score_epsilon),
                         dummy, nb_rows, seed, wait=False)
