"""The SmartNoise-SQL engine: cost before data, then one execution."""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import pandas as pd
import snsql
from snsql import Privacy
from snsql.metadata import Metadata
from snsql.sql._mechanisms.base import Mechanism
from snsql.sql._mechanisms.gaussian import Gaussian
from snsql.sql._mechanisms.laplace import Laplace
from snsql.sql.privacy import Stat

from lomas.data import Planned
from lomas.data.duck import no_data
from lomas.domain import PrivacyCost
from lomas.engines.smartnoise_sql.noise_scale import speed_up_searches
from lomas.errors import (
    DatasetUnavailable,
    ExternalLibraryError,
    InvalidQuery,
    LomasError,
    first_line,
)
from lomas.ports import Handle
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlCostRequest, SmartnoiseSqlRequest
from lomas_contract.models import DatasetMetadata

log = logging.getLogger(__name__)

UNNAMED = "???"  # what snsql calls an unaliased aggregate
_LIBRARY_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError,
                   NotImplementedError, AssertionError, ZeroDivisionError)
_NO_DATA = no_data()


SCALE_KEY = ("mechanism", "epsilon", "delta", "lower", "upper", "max_contrib", "bit_depth",
             "sensitivity")
SCALES_KEPT = 4096


def _scale_of(mechanism: Any) -> float:
    return float(mechanism.scale)


def remember_noise_scales(cls: type) -> None:
    """Memoise a SmartNoise mechanism's noise scale.

    Rewriting a query creates its mechanisms, and each searches its noise scale with
    OpenDP (a binary search: ~15 ms per Laplace aggregate, ~3.5 ms narrowed). The
    scale is a pure function of the mechanism and its parameters (SCALE_KEY), so the
    cost estimate and the execution of a query, and later queries with the same
    epsilon and bounds, compute it once. The value is the one OpenDP found: privacy is
    unchanged (a test compares it with a fresh search).
    """
    search = cls._compute_noise_scale  # type: ignore[attr-defined]
    if getattr(search, "remembered", False):
        return
    scales: dict[tuple[Any, ...], float] = {}

    def compute(self: Any) -> None:
        if self.scale is not None:
            return
        key = (cls, *(getattr(self, name, None) for name in SCALE_KEY))
        if (scale := scales.get(key)) is not None:
            self.scale = scale
            return
        search(self)
        if len(scales) >= SCALES_KEPT:
            scales.clear()
        scales[key] = _scale_of(self)  # set by the search

    compute.remembered = True  # type: ignore[attr-defined]
    compute.search = search  # type: ignore[attr-defined]
    cls._compute_noise_scale = compute  # type: ignore[attr-defined]


remember_noise_scales(Laplace)
remember_noise_scales(Gaussian)
speed_up_searches()


def snsql_metadata(dataset_name: str, metadata: DatasetMetadata) -> Metadata:
    """SmartNoise metadata naming the table both `df` and after the dataset."""
    table: dict[str, Any] = {
        "max_ids": metadata.max_ids,
        "row_privacy": metadata.row_privacy,
        "censor_dims": metadata.censor_dims,
        "clamp_counts": metadata.clamp_counts,
        "clamp_columns": metadata.clamp_columns,
    }
    if metadata.rows is not None:
        table["rows"] = metadata.rows
    for name, col in metadata.columns.items():
        table[name] = col.model_dump(exclude_none=True, exclude={"categories", "precision"})
        if col.type == "datetime":
            table[name].pop("lower", None)
            table[name].pop("upper", None)
    return Metadata.from_dict({"": {"": {"df": table, dataset_name: dict(table)}}})


def privacy(epsilon: float, delta: float, mechanisms: dict[str, str]) -> Privacy:
    """A Privacy object; unknown statistics or mechanisms are an InvalidQuery."""
    result = Privacy(epsilon=epsilon, delta=delta)
    for stat, mechanism in mechanisms.items():
        try:
            result.mechanisms.map[Stat[stat]] = Mechanism[mechanism]
        except KeyError as exc:
            raise InvalidQuery(
                f"Unknown mechanism mapping {stat!r}: {mechanism!r}. Statistics: "
                f"{[s.name for s in Stat]}; mechanisms: {[m.name for m in Mechanism]}."
            ) from exc
    return result


def _reader(conn: Any, dialect: str, name: str, md: DatasetMetadata, priv: Privacy) -> Any:
    """SmartNoise's reader of that dialect on the connection (DuckDB speaks postgres)."""
    return snsql.from_connection(
        conn, engine=dialect, privacy=priv, metadata=snsql_metadata(name, md)
    )


def _short(exc: BaseException) -> str:
    return first_line(exc, 300)


GROUP_BY = re.compile(r"\bGROUP\s+BY\b", re.IGNORECASE)


def estimate_cost(
    dataset_name: str, metadata: DatasetMetadata, request: SmartnoiseSqlCostRequest
) -> PrivacyCost:
    """What the query costs under the requested Privacy; reads no private data.

    Raises InvalidQuery for SQL that SmartNoise refuses (not DP, unknown columns).
    """
    refuse_backslashes(request.query_str)
    if metadata.censor_dims and request.delta == 0:
        # snsql accepts this when costing and refuses it only when executing.
        if GROUP_BY.search(request.query_str):
            raise InvalidQuery(
                "This dataset censors rare GROUP BY keys (censor_dims, SmartNoise's "
                "default), which costs some delta: pass delta above 0, e.g. 1e-5.")
        raise InvalidQuery(
            "This dataset censors rare groups (censor_dims, SmartNoise's default), and "
            "SmartNoise treats a query without GROUP BY as one group, whose threshold costs "
            "some delta: pass delta above 0, e.g. 1e-5.")
    mechanisms = tuple(sorted(request.mechanisms.items()))
    epsilon, delta = _cost(dataset_name, metadata.model_dump_json(), request.query_str,
                           request.epsilon, request.delta, mechanisms)
    return PrivacyCost(epsilon, delta)


@functools.lru_cache(maxsize=1024)
def _cost(dataset_name: str, metadata_json: str, query: str, epsilon: float, delta: float,
          mechanisms: tuple[tuple[str, str], ...]) -> tuple[float, float]:
    """snsql's cost: a pure function of its arguments, memoised.

    Costing rewrites the query and searches noise scales through OpenDP (~45 ms);
    a researcher re-running a query, or a retry, pays it once. Errors are not cached.
    """
    try:
        reader = no_data_reader(dataset_name, metadata_json, epsilon, delta, mechanisms)
        cost_epsilon, cost_delta = reader.get_privacy_cost(query)
    except _LIBRARY_ERRORS as exc:
        raise InvalidQuery(f"Invalid SmartNoise-SQL query: {_short(exc)}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("snsql", "antlr4")):
            raise InvalidQuery(f"Invalid SmartNoise-SQL query: {_short(exc)}") from exc
        raise
    return float(cost_epsilon), float(cost_delta)


def no_data_reader(dataset_name: str, metadata_json: str, epsilon: float, delta: float,
                   mechanisms: tuple[tuple[str, str], ...]) -> Any:
    """SmartNoise's reader on the metadata and a connection with no table: what costs a
    query (and estimates its accuracy) without any data."""
    metadata = DatasetMetadata.model_validate_json(metadata_json)
    priv = privacy(epsilon, delta, dict(mechanisms))
    return _reader(_NO_DATA, "postgres", dataset_name, metadata, priv)


def refuse_backslashes(query: str) -> None:
    """SmartNoise reads \\' in a string literal as an escaped quote and copies it into the SQL
    it sends; DuckDB and PostgreSQL end the string there, so the rest would run as SQL of the
    researcher's (unclamped, unbounded). No backslash, then. Raises InvalidQuery."""
    if "\\" in query:
        raise InvalidQuery("Backslashes are not allowed in queries (in a string, write a quote "
                           "as two quotes: 'it''s').")


def execute(
    handle: Handle, dataset_name: str, metadata: DatasetMetadata, request: SmartnoiseSqlRequest,
    private: bool = True,
) -> pd.DataFrame:
    """Run the query once in the handle's SQL session. Raises ExternalLibraryError if snsql
    fails: on private data its message names the failure's kind only (a database's message
    can quote the value it met), in full on dummy data. The query was costed first
    (`estimate_cost`), which refuses what may not run."""
    priv = privacy(request.epsilon, request.delta, request.mechanisms)
    try:
        with handle.sql() as session:
            reader = _reader(session.connection, session.dialect, dataset_name, metadata, priv)
            rows = reader.execute(request.query_str, postprocess=request.postprocess)
    except LomasError:  # the source could not be reached (DatasetUnavailable), or refused
        raise
    except Exception as exc:
        if not private:
            raise ExternalLibraryError(f"SmartNoise-SQL failed: {_short(exc)}",
                                       cause=_cause(exc)) from exc
        log.warning("smartnoise-sql execution failed on private data: %s", type(exc).__name__)
        raise ExternalLibraryError(f"SmartNoise-SQL failed on the data: {_kind(exc)}",
                                   cause=_cause(exc)) from exc
    return _frame(list(rows), request.postprocess)


def _kinds(exc: BaseException) -> set[str]:
    """The names of the exception's classes (drivers are not imported to test them)."""
    return {cls.__name__ for cls in type(exc).__mro__}


def _kind(exc: BaseException) -> str:
    """A failure on private data, named without its message (it may quote a value)."""
    if "QueryCanceled" in _kinds(exc):
        return "the database cancelled it (statement timeout)"
    return type(exc).__name__


def _transient(exc: BaseException) -> bool:
    """A failure of the connection or the cluster, not of the query (nothing to memoise)."""
    return bool(_kinds(exc) & {"OperationalError", "Py4JError", "Py4JNetworkError"})


SQL_ERRORS = {"BinderException", "CatalogException", "ParserException"}
VALUE_ERRORS = {"ConversionException", "OutOfRangeException", "InvalidInputException"}


def _cause(exc: BaseException) -> str:
    """What a failure says of the query: "sql" (DuckDB cannot express it), "values" (the
    values it met, e.g. a cast of a string that is no number), else "query"."""
    if type(exc).__module__.startswith(("duckdb", "_duckdb")):
        name = type(exc).__name__
        return "sql" if name in SQL_ERRORS else "values" if name in VALUE_ERRORS else "query"
    return "query"


def _has_boolean_literal(query: str) -> bool:
    from snsql._ast.tokens import Literal
    from snsql.sql.parse import QueryParser

    try:
        parsed = QueryParser().query(query)
    except Exception:  # noqa: BLE001 - costing parsed it already; nothing more to find
        return False
    return any(isinstance(node.value, bool) for node in parsed.find_nodes(Literal))


def plan(handle: Handle, dataset_name: str, metadata: DatasetMetadata,
         request: SmartnoiseSqlRequest) -> None:
    """Have the handle's database plan the rewritten query, reading no row. Raises
    ExternalLibraryError naming why it cannot run it."""
    priv = privacy(request.epsilon, request.delta, request.mechanisms)
    try:
        with handle.plan() as session:
            if session.dialect == "spark" and _has_boolean_literal(request.query_str):
                raise ExternalLibraryError(
                    "SmartNoise-SQL writes TRUE and FALSE for Spark as the strings 'True' and "
                    "'False', which Spark compares as text: on a string column the answer "
                    "would silently differ. Compare with the column's own values instead.")
            reader = _reader(session.connection, session.dialect, dataset_name, metadata, priv)
            reader.execute(request.query_str, postprocess=request.postprocess)
    except Planned:
        return
    except LomasError:
        raise
    except Exception as exc:
        if _transient(exc):  # a lock past the timeout, a connection or a context gone
            log.error("planning on the dataset's database failed: %s", type(exc).__name__)
            raise DatasetUnavailable("The dataset's database could not plan the query now; "
                                     "nothing was charged.") from exc
        log.info("smartnoise-sql query not plannable: %r", exc)
        raise ExternalLibraryError(_short(exc)) from exc


def _frame(rows: list[Any], postprocess: bool) -> pd.DataFrame:
    """Name columns stably: unaliased aggregates are expr_<i>.

    Without postprocessing snsql returns no header, only the intermediate noisy
    aggregates (an AVG comes back as its SUM and COUNT): they are raw_<i>.
    """
    if not postprocess:
        width = len(rows[0]) if rows else 0
        return pd.DataFrame([list(r) for r in rows], columns=[f"raw_{i}" for i in range(width)])
    header, *body = rows
    columns = [c if c != UNNAMED else f"expr_{i}" for i, c in enumerate(header)]
    return pd.DataFrame([list(r) for r in body], columns=columns)
