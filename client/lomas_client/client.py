"""The researcher's client: Lomas's method names, pandas DataFrames out."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
import requests

from lomas_client.diffprivlib import DiffPrivLibClient
from lomas_client.engines import EngineClient, SmartnoiseSqlClient, needed
from lomas_client.http import DEFAULT_TIMEOUT, Transport, route_body
from lomas_client.jobs import DEFAULT_JOB_TIMEOUT, Job
from lomas_client.opendp import OpenDPClient
from lomas_client.smartnoise_synth import SmartnoiseSynthClient
from lomas_contract import models as m
from lomas_contract import routes as r
from lomas_contract.engines import ENGINES
from lomas_contract.routes import Route

NAMESPACES: dict[str, type[EngineClient]] = {
    "smartnoise_sql": SmartnoiseSqlClient,
    "opendp": OpenDPClient,
    "smartnoise_synth": SmartnoiseSynthClient,
    "diffprivlib": DiffPrivLibClient,
}
"""Engines with a namespace of their own; any other engine gets the generic one."""


def frame_from_tight(tight: dict[str, Any], dtypes: dict[str, str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(tight, orient="tight")
    for column, dtype in (dtypes or {}).items():
        frame[column] = frame[column].astype(dtype)
    return frame


class Client:
    """Lomas for one dataset: `Client(url, token, dataset_name)`, or signed in with the
    office's identity provider: `Client(url, dataset_name=..., auth=OidcLogin.device(...))`.
    Without a dataset_name, only get_datasets() answers.
    """

    def __init__(self, url: str, token: str | None = None, dataset_name: str = "",
                 session: requests.Session | None = None,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, *, progress: bool = True,
                 job_timeout: float | None = DEFAULT_JOB_TIMEOUT,
                 auth: requests.auth.AuthBase | None = None) -> None:
        """token: an API token, or auth: an `lomas_client.oidc.OidcLogin` (one of the two).
        progress=False: no progress line while a query waits. job_timeout: how long
        query() waits for a result (seconds; None: no limit)."""
        self.dataset_name = dataset_name
        self._http = Transport(url, token, session, timeout, progress=progress,
                               job_timeout=job_timeout, auth=auth)
        self.engines: dict[str, EngineClient] = {
            name: NAMESPACES.get(name, EngineClient)(self._http, name, dataset_name,
                                                     self._metadata)
            for name in ENGINES}
        """Every engine's namespace, by name: `client.engines["opendp"]` is `client.opendp`."""

    @property
    def smartnoise_sql(self) -> SmartnoiseSqlClient:
        return cast(SmartnoiseSqlClient, self.engines["smartnoise_sql"])

    @property
    def opendp(self) -> OpenDPClient:
        return cast(OpenDPClient, self.engines["opendp"])

    @property
    def smartnoise_synth(self) -> SmartnoiseSynthClient:
        return cast(SmartnoiseSynthClient, self.engines["smartnoise_synth"])

    @property
    def diffprivlib(self) -> DiffPrivLibClient:
        return cast(DiffPrivLibClient, self.engines["diffprivlib"])

    def __getattr__(self, name: str) -> EngineClient:  # any other engine: client.<name>
        engines = self.__dict__.get("engines", {})
        if name in engines:
            return engines[name]
        raise AttributeError(f"'Client' object has no attribute {name!r}")

    def _post(self, route: Route, **extra: Any) -> Any:
        return self._http.call(route, route_body(route, dataset_name=needed(self.dataset_name),
                                                 **extra))

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

    def get_datasets(self) -> pd.DataFrame:
        """The datasets you may query, a row each by name: dataset_name, and your initial,
        spent and remaining epsilon and delta on it."""
        answer = m.GrantedDatasetsResponse.model_validate(self._http.call(r.DATASETS))
        columns = list(m.DatasetGrant.model_fields)
        return pd.DataFrame([d.model_dump() for d in answer.datasets], columns=columns)

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

    def get_previous_query_records(self) -> list[dict[str, Any]]:
        """Your finished queries on this dataset, oldest first, as the server records
        them: the whole request, the response or the error, the idempotency key."""
        raw = m.PreviousQueriesResponse.model_validate(self._post(r.PREVIOUS_QUERIES))
        return [q.model_dump() for q in raw.previous_queries]

    def get_previous_queries(self) -> pd.DataFrame:
        """Your finished queries on this dataset, oldest first, a row each: time, engine,
        query (a SQL text, or the request's other fields as JSON), epsilon and delta
        charged, outcome, and the running totals spent_epsilon and spent_delta.
        `get_previous_query_records()` gives the whole records."""
        records = self.get_previous_query_records()
        frame = pd.DataFrame({
            "time": pd.to_datetime([q["timestamp"] for q in records], utc=True),
            "engine": [q["engine"] for q in records],
            "query": [m.query_text(q["request"]) for q in records],
            "epsilon": [float(q["epsilon"]) for q in records],
            "delta": [float(q["delta"]) for q in records],
            "outcome": [q["status"] for q in records],
        })
        frame["spent_epsilon"] = frame["epsilon"].cumsum()
        frame["spent_delta"] = frame["delta"].cumsum()
        return frame
