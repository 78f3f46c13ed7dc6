"""SmartNoise-SQL's own test queries (tests/data/smartnoise_corpus.yaml) on every backend.

For each of its queries on PUMS-shaped data, SmartNoise's reference path (SQLite, what
`snsql.from_df` does) either refuses it when costing, fails when running it, or answers
it. Every backend Lomas serves from must do the same: the same cost and the same
refusal before reading anything; a failure where the reference fails; and where it
answers, the same exact aggregates. A backend whose SQL cannot express a query is in
DIALECT_GAPS, and Lomas refuses it there before any charge (test_gaps_are_refused).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from lomas.data.scan import ScanHandle
from lomas.domain import Dataset
from lomas.sources.local import LocalSource
from lomas_contract import models as m
from lomas_contract.sources.local import LocalAccess
from tests.support.backends import (
    Recording,
    close,
    exact_rows,
    postgres,
    reader,
    rows,
    spark,
    sqlite_reference,
)
from tests.support.postgres import PgDatabase

CORPUS = yaml.safe_load((Path(__file__).parents[1] / "data" / "smartnoise_corpus.yaml")
                        .read_text())
METADATA = m.DatasetMetadata.model_validate(CORPUS["metadata"])
NAME = CORPUS["table"]
QUERIES = {q["id"]: q["sql"] for q in CORPUS["queries"]}
BACKENDS = {"duckdb_file": "postgres", "postgres": "postgres", "spark": "spark"}
STRICT = ("a string column compared with a number: SQLite compares by its type affinity and "
          "Spark casts the string; DuckDB's strict types (the dummy-data preflight) refuse it "
          "on every backend rather than release either answer")
PG_TYPES = "PostgreSQL has no operator for text against a number or a boolean"
SPARK_BOOL = ("SmartNoise writes TRUE for Spark as the string 'True', which a string column "
              "would compare as text")
DIALECT_GAPS: dict[str, dict[str, str]] = {
    "test_thresholds-02": {"duckdb_file": STRICT, "postgres": STRICT, "spark": STRICT},
    "test_rewriting-13": {"spark": SPARK_BOOL + " (refused wherever TRUE or FALSE appears, "
                                   "here in a HAVING that SmartNoise evaluates itself)"},
    "test_rewriting-16": {"postgres": PG_TYPES, "spark": SPARK_BOOL},
    "test_rewriting-18": {"postgres": PG_TYPES, "spark": SPARK_BOOL},
    "test_rewriting-19": {"postgres": PG_TYPES},
}
"""query id -> backend -> why Lomas refuses there (before any charge) what SmartNoise's
SQLite path answers."""
NAME_CASE = {"validate_pums_fail-01"}
"""Refused by both, for another reason: SQLite matches column names by case, SmartNoise's
postgres and Spark dialects do not (`Age` is `age` there)."""


def _pums(rows_: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    columns = METADATA.columns
    frame = pd.DataFrame({
        "age": rng.integers(0, 100, rows_, endpoint=True),
        "income": rng.integers(0, 500_000, rows_, endpoint=True),
        "pid": np.arange(1, rows_ + 1),
    })
    for name, col in columns.items():
        if col.type == "string":
            frame[name] = rng.choice(np.array(col.categories, dtype=object), rows_)
    return frame[list(columns)]


@pytest.fixture(scope="module")
def pums(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScanHandle]:
    root = tmp_path_factory.mktemp("pums")
    _pums().to_csv(root / "pums.csv", index=False)
    handle = LocalSource(root, cache_dir=root / "cache").open(
        Dataset(NAME, LocalAccess(path="pums.csv"), METADATA))
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def reference(pums: ScanHandle) -> Recording:
    return sqlite_reference(pums.frame(), NAME)


@pytest.fixture(scope="module")
def corpus_duckdb_file(pums: ScanHandle) -> Recording:
    return Recording(pums.connection)


@pytest.fixture(scope="module")
def corpus_postgres(pg_db: PgDatabase, pums: ScanHandle) -> Iterator[Recording]:
    with postgres(pg_db, pums.frame(), NAME, METADATA) as recording:
        yield recording


@pytest.fixture(scope="module")
def corpus_spark(spark_session: Any, pums: ScanHandle) -> Any:
    assert pums._path is not None
    return spark(spark_session, f"file://{pums._path}", NAME, METADATA)


@pytest.fixture(scope="module")
def handle_postgres(pg_db: PgDatabase, corpus_postgres: Recording) -> Iterator[Any]:
    from lomas.sources.postgres import PostgresSource
    from lomas.sources.secrets import EnvSecrets
    from lomas_contract.sources.postgres import PostgresAccess

    secrets = EnvSecrets({"LOMAS_SECRET_PG": json.dumps({"dsn": pg_db.reader_dsn()})})
    source = PostgresSource(secrets)
    access = PostgresAccess(credentials_name="pg", table=f"{pg_db.schema}.{NAME}")
    yield source.open(Dataset(NAME, access, METADATA))
    source.close()


@pytest.fixture(scope="module")
def handle_spark(spark_session: Any, pums: ScanHandle) -> Any:
    from lomas.sources.spark.session import SparkHandle
    from lomas_contract.sources.spark import SparkAccess

    return SparkHandle(spark_session, SparkAccess(path=f"file://{pums._path}"), NAME,
                       list(METADATA.columns))


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, pums: ScanHandle) -> tuple[str, Any, str, Any]:
    name = request.param
    handle = pums if name == "duckdb_file" else request.getfixturevalue(f"handle_{name}")
    return name, request.getfixturevalue(f"corpus_{name}"), BACKENDS[name], handle


def _outcome(connection: Any, dialect: str, query: str) -> tuple[str, Any]:
    """refused (at costing) | failed (when run) | answered, with the cost or the error."""
    private = reader(connection, dialect, NAME, METADATA)
    try:
        cost = private.get_privacy_cost(query)
    except Exception as exc:  # noqa: BLE001 - any refusal; its text is compared
        return "refused", re.sub(r" at 0x[0-9a-f]+", "", str(exc))
    try:
        private.execute(query)
    except Exception as exc:  # noqa: BLE001
        return "failed", type(exc).__name__
    return "answered", cost


def lomas_refusal(handle: Any, query: str) -> str | None:
    """Why Lomas refuses the query before any charge on that handle's backend, or None:
    its costing, its dummy-data preflight (DuckDB, strict types) and, pushed down, the
    database's own plan of it (the checks `querying.plan` makes)."""
    from lomas.data.dummy import dummy_frame
    from lomas.data.handles import FrameHandle
    from lomas.engines.smartnoise_sql import execution
    from lomas.errors import ExternalLibraryError, InvalidQuery
    from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlRequest

    request = SmartnoiseSqlRequest(dataset_name=NAME, query_str=query, epsilon=1.0,
                                   delta=1e-5)
    try:
        execution.estimate_cost(NAME, METADATA, request)
    except InvalidQuery as exc:
        return exc.message
    dummy = FrameHandle(dummy_frame(METADATA, 50, 0), NAME, dummy=True)
    try:
        execution.execute(dummy, NAME, METADATA, request)
    except ExternalLibraryError as exc:
        if exc.cause != "values":
            return exc.message
    if not isinstance(handle, ScanHandle):
        try:
            execution.plan(handle, NAME, METADATA, request)
        except ExternalLibraryError as exc:
            return exc.message
    return None


@pytest.mark.parametrize("query_id", list(QUERIES))
def test_every_backend_answers_what_smartnoise_answers_or_lomas_refuses_it_first(
        backend: tuple[str, Any, str, Any], reference: Recording, query_id: str) -> None:
    name, connection, dialect, handle = backend
    query = QUERIES[query_id]
    expected = _outcome(reference, "sqlite", query)
    refusal = lomas_refusal(handle, query)
    if expected[0] == "refused":
        assert refusal is not None  # refused when costing, before any data is read
        connection.sent.clear()
        got = _outcome(connection, dialect, query)
        assert got[0] == "refused" and connection.sent == []
        assert got[1] == expected[1] or query_id in NAME_CASE, (got, expected)
        return
    if refusal is not None:  # what cannot run is refused before any charge, saying why
        assert expected[0] == "failed" or name in DIALECT_GAPS.get(query_id, {}), (
            query_id, refusal)
        return
    assert name not in DIALECT_GAPS.get(query_id, {}), "a gap that no longer is: remove it"
    connection.sent.clear()
    got = _outcome(connection, dialect, query)
    assert got[0] == expected[0], (got, expected)
    if expected[0] == "answered":
        assert got[1] == expected[1]
        reference.sent.clear()
        _outcome(reference, "sqlite", query)
        assert close(rows(exact_rows(connection, connection.sent[-1])),
                     rows(exact_rows(reference, reference.sent[-1])), rel=1e-9), query
