"""SmartNoise-Synth queries from the client, with the published Lomas's argument names."""

from __future__ import annotations

from typing import Any

from lomas_client.engines import EngineClient
from lomas_client.jobs import Job
from lomas_contract import models as m
from lomas_contract.engines.smartnoise_synth import DEFAULT_SAMPLES


class SmartnoiseSynthClient(EngineClient):
    """`client.smartnoise_synth.query("mst", epsilon=1.0, delta=1e-5, ...)`, `.cost(...)`.

    Synthesizers: "mwem" (SmartNoise-Synth's; spends (epsilon, 0)), "mst" and "aim"
    (OpenDP's, on Private-PGM; they need delta > 0). `query` returns a DataFrame of
    `nb_samples` synthetic rows; a fitted model is never sent (`return_model=True` is
    refused), nor are `constraints` (every category and bound is the metadata's).
    """

    @staticmethod
    def _fields(synth_name: str, epsilon: float, delta: float | None,
                select_cols: list[str] | None, synth_params: dict[str, Any] | None,
                nullable: bool, constraints: Any) -> dict[str, Any]:
        return {"synth_name": synth_name, "epsilon": epsilon, "delta": delta,
                "select_cols": list(select_cols or []), "synth_params": synth_params or {},
                "nullable": nullable, "constraints": constraints or ""}

    def cost(self, synth_name: str, epsilon: float,  # type: ignore[override]
             delta: float | None = None, select_cols: list[str] | None = None,
             synth_params: dict[str, Any] | None = None, nullable: bool = True,
             constraints: Any = None, alpha: float = m.DEFAULT_ALPHA) -> m.CostResponse:
        """What the fit would be charged (nothing is spent, no data is read). Its accuracy
        says "not available": a synthesizer's cannot be told before the fit."""
        return self._cost(self._fields(synth_name, epsilon, delta, select_cols, synth_params,
                                       nullable, constraints), alpha)

    def query(self, synth_name: str, epsilon: float,  # type: ignore[override]
              delta: float | None = None, select_cols: list[str] | None = None,
              synth_params: dict[str, Any] | None = None, nullable: bool = True,
              constraints: Any = None, dummy: bool = False, return_model: bool = False,
              condition: str = "", nb_samples: int = DEFAULT_SAMPLES, nb_rows: int = 100,
              seed: int = 42) -> Any:
        """Fit the synthesizer on the dataset (dummy=True: on dummy data, free) and return
        `nb_samples` synthetic rows meeting `condition` (a SQL condition), as a DataFrame.
        Waits for the fit however long it takes (up to the client's job_timeout)."""
        return self._run(self._query_fields(
            synth_name, epsilon, delta, select_cols, synth_params, nullable, constraints,
            return_model, condition, nb_samples), dummy, nb_rows, seed, wait=True)

    def submit(self, synth_name: str, epsilon: float,  # type: ignore[override]
               delta: float | None = None, select_cols: list[str] | None = None,
               synth_params: dict[str, Any] | None = None, nullable: bool = True,
               constraints: Any = None, dummy: bool = False, return_model: bool = False,
               condition: str = "", nb_samples: int = DEFAULT_SAMPLES, nb_rows: int = 100,
               seed: int = 42) -> Job:
        """Start the fit and return at once: `job.status()`, `job.result(timeout)`."""
        return self._run(self._query_fields(
            synth_name, epsilon, delta, select_cols, synth_params, nullable, constraints,
            return_model, condition, nb_samples), dummy, nb_rows, seed, wait=False)

    def _query_fields(self, synth_name: str, epsilon: float, delta: float | None,
                      select_cols: list[str] | None, synth_params: dict[str, Any] | None,
                      nullable: bool, constraints: Any, return_model: bool, condition: str,
                      nb_samples: int) -> dict[str, Any]:
        return self._fields(synth_name, epsilon, delta, select_cols, synth_params, nullable,
                            constraints) | {"return_model": return_model,
                                            "condition": condition, "nb_samples": nb_samples}
