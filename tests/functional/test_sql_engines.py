"""Same privacy on DuckDB as on SmartNoise's own SQLite path: a corpus of queries.

For each query, SmartNoise-SQL reading through DuckDB (Lomas's engine) and through
its SQLite reader (what `snsql.from_df` does, the reference) must agree on the cost,
the mechanisms, and the exact (noise-free) aggregates its rewritten query reads, which
are all the released values depend on besides the noise; the released rows with a
huge epsilon must carry the same keys and nearly the same values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lomas.data.duck import SqlTable
from lomas.data.scan import ScanHandle
from lomas.domain import Dataset
from lomas.sources.local import LocalSource
from lomas_contract import models as m
from lomas_contract.sources.local import LocalAccess
from tests.support.backends import (
    Recording,
    SparkRecording,
    close,
    exact_rows,
    postgres,
    reader,
    rows,
    spark,
    sqlite_reference,
)
from tests.support.postgres import PgDatabase

ROWS = 4000
REGIONS = ["Bern", "Geneva", "Ticino", "Vaud", "Zurich"]
METADATA = m.DatasetMetadata.model_validate({
    "max_ids": 1, "row_privacy": True, "rows": ROWS,
    "columns": {
        "region": {"type": "string", "cardinality": 5, "categories": REGIONS},
        "sex": {"type": "string", "cardinality": 2, "categories": ["F", "M"]},
        "age": {"type": "int", "lower": 18, "upper": 90},
        "income": {"type": "float", "lower": 0.0, "upper": 200_000.0},
        "score": {"type": "int", "lower": 0, "upper": 10, "nullable": True},
        "member": {"type": "boolean"},
        "joined": {"type": "datetime"},
    },
})

CORPUS = [
    "SELECT COUNT(*) AS n FROM survey",
    "SELECT COUNT(*) AS n, SUM(income) AS total FROM df",
    "SELECT AVG(income) AS mean_income, AVG(age) AS mean_age FROM survey",
    "SELECT VARIANCE(age) AS v, STDDEV(age) AS s FROM survey",
    "SELECT region, COUNT(*) AS n FROM survey GROUP BY region",
    "SELECT region, sex, COUNT(*) AS n, AVG(income) AS a FROM survey GROUP BY region, sex",
    "SELECT sex, SUM(income) AS s FROM survey WHERE age > 40 AND region = 'Vaud' GROUP BY sex",
    "SELECT region, COUNT(*) AS n FROM survey GROUP BY region HAVING COUNT(*) > 100",
    "SELECT TOP 3 region, COUNT(*) AS n FROM survey GROUP BY region ORDER BY n DESC",
    "SELECT region, COUNT(*) AS n FROM survey GROUP BY region ORDER BY region LIMIT 2",
    "SELECT CASE WHEN sex = 'F' THEN 'female' ELSE 'male' END AS s, COUNT(*) AS n FROM survey "
    "GROUP BY CASE WHEN sex = 'F' THEN 'female' ELSE 'male' END",
    "SELECT COUNT(score) AS scored, SUM(score) AS total FROM survey",
    "SELECT COUNT(*) AS n FROM survey WHERE score IS NULL",
    "SELECT member, COUNT(*) AS n FROM survey GROUP BY member",
    "SELECT COUNT(*) AS n FROM survey WHERE member = TRUE",
    "SELECT COUNT(*) AS n FROM survey WHERE joined >= '2021-01-01'",
    "SELECT sex, AVG(income) AS a FROM survey WHERE income BETWEEN 1000 AND 90000 GROUP BY sex",
    "SELECT region, SUM(age) AS years FROM survey WHERE joined < '2020-06-30' GROUP BY region",
    "SELECT COUNT(DISTINCT region) AS regions FROM survey",
    "SELECT COUNT(*) AS n FROM survey WHERE region IN ('Bern', 'Zurich') OR sex <> 'F'",
]


def _raw() -> pd.DataFrame:
    """The corpus's table as its owner would write it."""
    rng = np.random.default_rng(11)
    score = rng.integers(0, 10, ROWS, endpoint=True).astype(float)
    score[rng.random(ROWS) < 0.2] = np.nan
    raw = pd.DataFrame({
        "region": rng.choice(REGIONS, ROWS),
        "sex": rng.choice(["F", "M"], ROWS),
        "age": rng.integers(18, 90, ROWS, endpoint=True),
        "income": rng.lognormal(10.5, 0.6, ROWS).clip(0, 200_000).round(2),
        "score": pd.array(score, dtype="Int64"),
        "member": rng.random(ROWS) < 0.3,
        "joined": pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 1500, ROWS),
                                                                unit="D"),
    })
    return raw


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScanHandle]:
    """The corpus's table as Lomas serves a CSV: made into typed Parquet, scanned in place."""
    root = tmp_path_factory.mktemp("survey")
    _raw().to_csv(root / "survey.csv", index=False)
    source = LocalSource(root, cache_dir=root / "cache")
    handle = source.open(Dataset("survey", LocalAccess(path="survey.csv"), METADATA))
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def sqlite(scan: ScanHandle) -> Recording:
    """SmartNoise's own path, the reference: the table copied into SQLite (snsql.from_df)."""
    return sqlite_reference(scan.frame(), "survey")


@pytest.fixture(scope="module")
def backend_duckdb(scan: ScanHandle) -> Recording:
    """DuckDB over a frame in memory (dummy data)."""
    return Recording(SqlTable(scan.frame(), "survey").connection)


@pytest.fixture(scope="module")
def backend_duckdb_file(scan: ScanHandle) -> Recording:
    """DuckDB over the Parquet file in place (file datasets)."""
    return Recording(scan.connection)


@pytest.fixture(scope="module")
def backend_postgres(pg_db: PgDatabase, scan: ScanHandle) -> Iterator[Recording]:
    """PostgreSQL, through the session a PostgreSQL dataset gets (read-only, aliased)."""
    with postgres(pg_db, scan.frame(), "survey", METADATA) as recording:
        yield recording


@pytest.fixture(scope="module")
def backend_spark(spark_session: Any, scan: ScanHandle) -> SparkRecording:
    """Spark, through the connection a Spark dataset gets, over the Parquet file."""
    assert scan._path is not None
    return spark(spark_session, f"file://{scan._path}", "survey", METADATA)


SURVEY = ("survey", METADATA)

BACKENDS = {"duckdb": "postgres", "duckdb_file": "postgres", "postgres": "postgres",
            "spark": "spark"}
"""Every SQL backend a dataset can be served from (and the dialect SmartNoise-SQL speaks
to it), each against the reference."""


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> tuple[Any, str]:
    return request.getfixturevalue(f"backend_{request.param}"), BACKENDS[request.param]


REFUSED = [
    "SELECT VARIANCE(income) AS v FROM survey",  # sensitivity too large for any noise
    "SELECT COUNT(*) AS n, SUM(CASE WHEN age < 30 THEN 1 ELSE 0 END) AS young FROM survey",
    "SELECT region, MAX(age) AS oldest FROM survey GROUP BY region",
]


@pytest.mark.parametrize("query", REFUSED)
def test_what_sqlite_refuses_every_backend_refuses_before_reading(
        backend: tuple[Any, str], sqlite: Recording, query: str) -> None:
    errors = {}
    for name, (recording, dialect) in (("backend", backend), ("sqlite", (sqlite, "sqlite"))):
        recording.sent.clear()
        with pytest.raises(ValueError) as refused:
            reader(recording, dialect, *SURVEY).get_privacy_cost(query)
        errors[name] = str(refused.value)
        assert recording.sent == []  # refused before the data was read
    assert errors["backend"] == errors["sqlite"]


@pytest.mark.parametrize("query", CORPUS)
def test_every_backend_releases_what_sqlite_releases(
        backend: tuple[Any, str], sqlite: Recording, query: str) -> None:
    pair = {"backend": backend, "sqlite": (sqlite, "sqlite")}
    duck, lite = reader(*pair["backend"], *SURVEY), reader(*pair["sqlite"], *SURVEY)
    assert duck.get_privacy_cost(query) == lite.get_privacy_cost(query)
    mechanisms = {}
    for name, private in (("backend", duck), ("sqlite", lite)):
        subquery, _ = private._rewrite(query)
        mechanisms[name] = [(type(mech).__name__, mech.epsilon, mech.delta, mech.scale)
                            if mech else None for mech in private._get_mechanisms(subquery)]
    assert mechanisms["backend"] == mechanisms["sqlite"]

    # The exact aggregates: the rewritten inner query, as each engine received it.
    exact = {}
    for name, (recording, dialect) in pair.items():
        recording.sent.clear()
        reader(recording, dialect, *SURVEY).execute(query)
        (inner,) = recording.sent
        exact[name] = rows(exact_rows(recording, inner))
    assert close(exact["backend"], exact["sqlite"], rel=1e-12), query

    # Released with an epsilon so large the noise is negligible: the same keys and values
    # (a count's discrete noise is still a unit or two).
    released = {name: rows(reader(recording, dialect, *SURVEY, epsilon=1e9, delta=0.5)
                            .execute(query)[1:]) for name, (recording, dialect) in pair.items()}
    assert close(released["backend"], released["sqlite"], rel=1e-3, absolute=2), query


def _assert_sealed(cursor: Any) -> None:
    """Loads no extension, reads no file, and that cannot be changed."""
    for setting in ("autoload_known_extensions", "autoinstall_known_extensions",
                    "enable_external_access"):
        cursor.execute(f"SELECT current_setting('{setting}')")
        assert list(cursor) == [(False,)], setting
    with pytest.raises(Exception, match=r"(?i)permission|disabled"):
        cursor.execute("SELECT * FROM read_csv('/etc/hostname')")
    with pytest.raises(Exception, match=r"(?i)lock|configuration"):
        cursor.execute("SET enable_external_access = true")


@pytest.mark.parametrize("name", ["duckdb", "duckdb_file"])
def test_duckdb_reads_no_other_file_and_loads_no_extension(
        request: pytest.FixtureRequest, name: str) -> None:
    recording = request.getfixturevalue(f"backend_{name}")
    _assert_sealed(recording.connection.cursor())


def test_dummy_tables_share_a_sealed_database_and_see_only_their_own_tables() -> None:
    first = SqlTable(pd.DataFrame({"a": range(50)}), "one", dummy=True)
    second = SqlTable(pd.DataFrame({"a": range(5)}), "one", dummy=True)
    cursor, other = first.connection.cursor(), second.connection.cursor()
    cursor.execute("SELECT COUNT(*) FROM one")
    other.execute("SELECT COUNT(*) FROM df")
    assert list(cursor) == [(50,)] and list(other) == [(5,)]
    _assert_sealed(cursor)
