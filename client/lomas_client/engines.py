"""One namespace per engine: `client.<engine>.cost(...)`, `.query(...)`, `.submit(...)`.

`EngineClient` serves any engine of the registry (`lomas_contract.engines`) with the
fields of its wire models as keyword arguments; an engine with a namespace of its own
(Lomas's positional signatures, helpers) subclasses it in `NAMESPACES`.
"""

from __future__ import annotations

from typing import Any

from lomas_client.http import Transport, route_body
from lomas_client.jobs import Job
from lomas_contract import models as m
from lomas_contract.engines import ENGINES
from lomas_contract.routes import ENGINES as ROUTES


def needed(dataset_name: str) -> str:
    """The Client's dataset, for a call on one. Raises TypeError without one."""
    if not dataset_name:
        raise TypeError("this Client has no dataset: make one with Client(url, token, "
                        "dataset_name=...); get_datasets() lists those you may query")
    return dataset_name


class EngineClient:
    """An engine's queries on one dataset."""

    def __init__(self, transport: Transport, engine: str, dataset_name: str,
                 metadata: Any = None) -> None:
        self._http = transport
        self._engine = ENGINES[engine].name
        self._dataset = dataset_name
        self._metadata = metadata

    def _cost(self, fields: dict[str, Any], alpha: float) -> m.CostResponse:
        route = ROUTES[self._engine].cost
        body = route_body(route, dataset_name=needed(self._dataset), alpha=alpha, **fields)
        return m.CostResponse.model_validate(self._http.call(route, body))

    def _run(self, fields: dict[str, Any], dummy: bool, nb_rows: int, seed: int,
             wait: bool) -> Any:
        return self._http.run(self._engine, {"dataset_name": needed(self._dataset), **fields},
                              dummy, nb_rows, seed, wait=wait)

    def cost(self, alpha: float = m.DEFAULT_ALPHA, **fields: Any) -> m.CostResponse:
        """What the query would be charged (nothing is spent), and how accurate it would
        be at 1 - alpha confidence (`.describe()`: one line for a person)."""
        return self._cost(fields, alpha)

    def query(self, dummy: bool = False, nb_rows: int = 100, seed: int = 42,
              **fields: Any) -> Any:
        """Run the query (dummy=True: on dummy data, free) and wait for what it released."""
        return self._run(fields, dummy, nb_rows, seed, wait=True)

    def submit(self, dummy: bool = False, nb_rows: int = 100, seed: int = 42,
               **fields: Any) -> Job:
        """Start the query and return at once: `job.status()`, `job.result(timeout)`."""
        return self._run(fields, dummy, nb_rows, seed, wait=False)


class SmartnoiseSqlClient(EngineClient):
    """SmartNoise-SQL queries: `client.smartnoise_sql.query(...)`, `.cost(...)`."""

    @staticmethod
    def _fields(query: str, epsilon: float, delta: float,
                mechanisms: dict[str, str] | None) -> dict[str, Any]:
        return {"query_str": query, "epsilon": epsilon, "delta": delta,
                "mechanisms": mechanisms or {}}

    def cost(self, query: str, epsilon: float, delta: float,  # type: ignore[override]
             mechanisms: dict[str, str] | None = None,
             alpha: float = m.DEFAULT_ALPHA) -> m.CostResponse:
        """What the query would be charged (nothing is spent), and the accuracy of its COUNT
        and SUM columns at 1 - alpha confidence (`.describe()`: one line for a person)."""
        return self._cost(self._fields(query, epsilon, delta, mechanisms), alpha)

    def query(self, query: str, epsilon: float, delta: float,  # type: ignore[override]
              mechanisms: dict[str, str] | None = None, postprocess: bool = True,
              dummy: bool = False, nb_rows: int = 100, seed: int = 42) -> Any:
        """Run a DP query (a DataFrame back); with dummy=True on dummy data, free of charge.

        Waits for the result however long the query takes (up to the client's
        job_timeout), showing progress while it waits. Raises InvalidQueryError,
        BudgetExhaustedError, UnauthorizedAccessError, JobTimeoutError, ...
        """
        fields = self._fields(query, epsilon, delta, mechanisms) | {"postprocess": postprocess}
        return self._run(fields, dummy, nb_rows, seed, wait=True)

    def submit(self, query: str, epsilon: float, delta: float,  # type: ignore[override]
               mechanisms: dict[str, str] | None = None, postprocess: bool = True,
               dummy: bool = False, nb_rows: int = 100, seed: int = 42) -> Job:
        """Start the query and return at once: `job.status()`, `job.result(timeout)`.

        The cost is spent now (not with dummy=True). Raises what query() raises before
        the query runs (InvalidQueryError, BudgetExhaustedError, ...)."""
        fields = self._fields(query, epsilon, delta, mechanisms) | {"postprocess": postprocess}
        return self._run(fields, dummy, nb_rows, seed, wait=False)
