"""The researcher's client: Lomas's method names, pandas DataFrames out."""

from __future__ import annotations

from typing import Any

import pandas as pd
import requests

from lomas_client import models as m
from lomas_client import routes as r
from lomas_client.http import DEFAULT_TIMEOUT, Transport, route_body
from lomas_client.jobs import DEFAULT_JOB_TIMEOUT, Job
from lomas_client.opendp import OpenDPClient
from lomas_client.routes import ENGINES, Route


def frame_from_tight(tight: dict[str, Any], dtypes: dict[str, str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(tight, orient="tight")
    for column, dtype in (dtypes or {}).items():
        frame[column] = frame[column].astype(dtype)
    return frame


class SmartnoiseSqlClient:
    """SmartNoise-SQL queries: `client.smartnoise_sql.query(...)`, `.cost(...)`."""

    def __init__(self, transport: Transport, dataset_name: str) -> None:
        self._http = transport
        self._dataset = dataset_name

    def _fields(self, query: str, epsilon: float, delta: float,
                mechanisms: dict[str, str] | None) -> dict[str, Any]:
        return {"dataset_name": self._dataset, "query_str": query, "epsilon": epsilon,
                "delta": delta, "mechanisms": mechanisms or {}}

    def cost(self, query: str, epsilon: float, delta: float,
             mechanisms: dict[str, str] | None = None) -> m.CostResponse:
        """What the query would be charged (nothing is spent)."""
        route = ENGINES["smartnoise_sql"].cost
        body = route_body(route, **self._fields(query, epsilon, delta, mechanisms))
        return m.CostResponse.model_validate(self._http.call(route, body))

    def query(self, query: str, epsilon: float, delta: float,
              mechanisms: dict[str, str] | None = None, postprocess: bool = True,
              dummy: bool = False, nb_rows: int = 100, seed: int = 42) -> pd.DataFrame:
        """Run a DP query; with dummy=True on dummy data, free of charge.

        Waits for the result however long the query takes (up to the client's
        job_timeout), showing progress while it waits. Raises InvalidQueryError,
        BudgetExhaustedError, UnauthorizedAccessError, JobTimeoutError, ...
        """
        fields = self._fields(query, epsilon, delta, mechanisms) | {"postprocess": postprocess}
        return self._http.run("smartnoise_sql", fields, dummy, nb_rows, seed, wait=True)

    def submit(self, query: str, epsilon: float, delta: float,
               mechanisms: dict[str, str] | None = None, postprocess: bool = True,
               dummy: bool = False, nb_rows: int = 100, seed: int = 42) -> Job:
        """Start the query and return at once: `job.status()`, `job.result(timeout)`.

        The cost is spent now (not with dummy=True). Raises what query() raises before
        the query runs (InvalidQueryError, BudgetExhaustedError, ...)."""
        fields = self._fields(query, epsilon, delta, mechanisms) | {"postprocess": postprocess}
        return self._http.run("smartnoise_sql", fields, dummy, nb_rows, seed, wait=False)


class Client:
    """Lomas for one dataset: `Client(url, token, dataset_name)`, or signed in with the
    office's identity provider: `Client(url, dataset_name=..., auth=OidcLogin.device(...))`.
    """

    def __init__(self, url: str, token: str | None = None, dataset_name: str = "",
                 session: requests.Session | None = None,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, *, progress: bool = True,
                 job_timeout: float | None = DEFAULT_JOB_TIMEOUT,
                 auth: requests.auth.AuthBase | None = None) -> None:
        """token: an API token, or auth: an `lomas_client.oidc.OidcLogin` (one of the two).
        progress=False: no progress line while a query waits. job_timeout: how long
        query() waits for a result (seconds; None: no limit)."""
        if not dataset_name:
            raise TypeError("dataset_name is required")
        self.dataset_name = dataset_name
        self._http = Transport(url, token, session, timeout, progress=progress,
                               job_timeout=job_timeout, auth=auth)
        self.smartnoise_sql = SmartnoiseSqlClient(self._http, dataset_name)
        self.opendp = OpenDPClient(self._http, dataset_name, self._metadata)

    def _post(self, route: Route, **extra: Any) -> Any:
        return self._http.call(route, route_body(route, dataset_name=self.dataset_name, **extra))

    def _metadata(self) -> m.DatasetMetadata:
        return m.DatasetMetadata.model_validate(self._post(r.DATASET_METADATA))

    def get_dataset_metadata(self) -> dict[str, Any]:
        """The dataset's public metadata (columns, types, bounds, categories)."""
        return self._metadata().model_dump(exclude_none=True)

    def get_dummy_dataset(self, nb_rows: int = 100, seed: int = 42) -> pd.DataFrame:
        """Random rows shaped like the dataset, made from its metadata only."""
        raw = self._post(r.DUMMY_DATASET, dummy_nb_rows=nb_rows, dummy_seed=seed)
        response = m.DummyDatasetResponse.model_validate(raw)
        return frame_from_tight(response.dummy_df, response.dtypes)

    def get_initial_budget(self) -> dict[str, float]:
        return m.InitialBudgetResponse.model_validate(
            self._post(r.INITIAL_BUDGET)).model_dump()

    def get_total_spent_budget(self) -> dict[str, float]:
        return m.SpentBudgetResponse.model_validate(
            self._post(r.SPENT_BUDGET)).model_dump()

    def get_remaining_budget(self) -> dict[str, float]:
        return m.RemainingBudgetResponse.model_validate(
            self._post(r.REMAINING_BUDGET)).model_dump()

    def job(self, uid: str) -> Job:
        """A job submitted earlier (by its uid), to read its status or wait for its result."""
        return self._http.job(uid)

    def get_previous_queries(self) -> list[dict[str, Any]]:
        """Your finished queries on this dataset, oldest first."""
        raw = m.PreviousQueriesResponse.model_validate(self._post(r.PREVIOUS_QUERIES))
        return [q.model_dump() for q in raw.previous_queries]
