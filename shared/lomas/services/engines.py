"""The DP engines as the query service sees them: cost first, then a private or dummy run.

Each engine turns a request into a `Prepared` query: its cost (computed before
any private data is read) and two ways to run it, on the cached private data
or on dummy data. The query service does the rest the same way for all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lomas_client import models as m

from lomas.adapters.tables import CachedData
from lomas.domain import Dataset, PrivacyCost

if TYPE_CHECKING:
    import pandas as pd

    from lomas.dp.sql_table import SqlTable

# The DP libraries (snsql, OpenDP with polars and scikit-learn: seconds of imports) load
# with the first query that needs them, not with the function: /health, metadata,
# budgets and dummy data start without them.

Result = m.SmartnoiseSqlResult | m.OpenDPResult


@dataclass(frozen=True)
class Prepared:
    """A priced query: the service reads the data and hands it to one of the runs."""

    cost: PrivacyCost
    run_private: Callable[[CachedData], Result]
    run_dummy: Callable[[pd.DataFrame], Result]


@dataclass(frozen=True)
class Engine:
    """A DP engine; its routes and request models are in lomas_client.routes.ENGINES."""

    name: str
    prepare: Callable[[Dataset, Any], Prepared]
    """Validate the request and compute its cost. Raises InvalidQuery."""


def _prepare_sql(dataset: Dataset, req: m.SmartnoiseSqlCostRequest) -> Prepared:
    from lomas.dp import smartnoise_sql
    from lomas.dp.frames import to_tight
    from lomas.dp.sql_table import SqlTable

    cost = smartnoise_sql.estimate_cost(dataset.name, dataset.metadata, req)

    def on(table: SqlTable) -> m.SmartnoiseSqlResult:
        assert isinstance(req, m.SmartnoiseSqlRequest)
        frame = smartnoise_sql.execute(table, dataset.name, dataset.metadata, req)
        return m.SmartnoiseSqlResult(df=to_tight(frame))

    return Prepared(
        cost,
        run_private=lambda data: on(data.sql_table()),
        run_dummy=lambda frame: on(SqlTable(frame, dataset.name, dummy=True)),
    )


def _prepare_opendp(dataset: Dataset, req: m.OpenDPCostRequest) -> Prepared:
    from lomas.dp import opendp

    pipeline = opendp.build(dataset.metadata, req.opendp_json)
    cost = opendp.cost(pipeline.measurement, dataset.metadata, req.fixed_delta)
    return Prepared(
        cost,
        run_private=lambda data: opendp.execute(pipeline, data.frame, dataset.metadata),
        run_dummy=lambda frame: opendp.execute(pipeline, frame, dataset.metadata),
    )


SMARTNOISE_SQL = Engine("smartnoise_sql", _prepare_sql)
OPENDP = Engine("opendp", _prepare_opendp)
ENGINES = (SMARTNOISE_SQL, OPENDP)
