"""Same privacy on DuckDB as on SmartNoise's own SQLite path: a corpus of queries.

For each query, SmartNoise-SQL reading through DuckDB (Lomas's engine) and through
its SQLite reader (what `snsql.from_df` does, the reference) must agree on the cost,
the mechanisms, and the exact (noise-free) aggregates its rewritten query reads, which
are all the released values depend on besides the noise; the released rows with a
huge epsilon must carry the same keys and nearly the same values.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
import snsql

from lomas.data.duck import SqlTable
from lomas.engines.smartnoise_sql.execution import snsql_metadata
from lomas.sources.files.formats import read_table
from lomas_contract import models as m

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


def _frame() -> pd.DataFrame:
    """The corpus's table, read through Lomas's own loader with the declared dtypes."""
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
    return read_table(raw.to_csv(index=False).encode(), "csv", METADATA)


class Recording:
    """A DB-API connection that records the SQL SmartNoise sends it."""

    def __init__(self, connection: Any) -> None:
        self.connection, self.sent = connection, []
        outer = self

        class Cursor:
            def __init__(self) -> None:
                self.inner = connection.cursor()

            def execute(self, sql: str) -> Any:
                outer.sent.append(sql)
                return self.inner.execute(sql)

            @property
            def description(self) -> Any:
                return self.inner.description

            def __iter__(self) -> Any:
                return iter(self.inner)

        self.cursor = Cursor

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()


@pytest.fixture(scope="module")
def engines() -> dict[str, tuple[Recording, str]]:
    frame = _frame()
    reference = sqlite3.connect(":memory:", check_same_thread=False)
    frame.to_sql("df", reference, index=False)  # what snsql.from_df does
    reference.execute("CREATE VIEW survey AS SELECT * FROM df")
    return {"duckdb": (Recording(SqlTable(frame, "survey").connection), "postgres"),
            "sqlite": (Recording(reference), "sqlite")}


def _reader(engines: dict, name: str, epsilon: float = 1.0, delta: float = 1e-5) -> Any:
    connection, dialect = engines[name]
    return snsql.from_connection(connection, engine=dialect,
                                 privacy=snsql.Privacy(epsilon=epsilon, delta=delta),
                                 metadata=snsql_metadata("survey", METADATA))


def _plain(value: Any) -> Any:
    """One representation of a value both engines return (SQLite has no bool or date)."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return pd.Timestamp(value).isoformat(sep=" ")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    return sorted((tuple(_plain(v) for v in row) for row in rows), key=repr)


def _close(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], rel: float,
           absolute: float = 1e-9) -> bool:
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            if isinstance(x, int | float) and isinstance(y, int | float):
                if not math.isclose(x, y, rel_tol=rel, abs_tol=absolute):
                    return False
            elif x != y:
                return False
    return True


REFUSED = [
    "SELECT VARIANCE(income) AS v FROM survey",  # sensitivity too large for any noise
    "SELECT COUNT(*) AS n, SUM(CASE WHEN age < 30 THEN 1 ELSE 0 END) AS young FROM survey",
    "SELECT region, MAX(age) AS oldest FROM survey GROUP BY region",
]


@pytest.mark.parametrize("query", REFUSED)
def test_what_sqlite_refuses_duckdb_refuses_before_reading(engines: dict, query: str) -> None:
    errors = {}
    for name in engines:
        engines[name][0].sent.clear()
        with pytest.raises(ValueError) as refused:
            _reader(engines, name).get_privacy_cost(query)
        errors[name] = str(refused.value)
        assert engines[name][0].sent == []  # refused before the data was read
    assert errors["duckdb"] == errors["sqlite"]


@pytest.mark.parametrize("query", CORPUS)
def test_duckdb_releases_what_sqlite_releases(engines: dict, query: str) -> None:
    duck, lite = _reader(engines, "duckdb"), _reader(engines, "sqlite")
    assert duck.get_privacy_cost(query) == lite.get_privacy_cost(query)
    mechanisms = {}
    for name, reader in (("duckdb", duck), ("sqlite", lite)):
        subquery, _ = reader._rewrite(query)
        mechanisms[name] = [(type(mech).__name__, mech.epsilon, mech.delta, mech.scale)
                            if mech else None for mech in reader._get_mechanisms(subquery)]
    assert mechanisms["duckdb"] == mechanisms["sqlite"]

    # The exact aggregates: the rewritten inner query, as each engine received it.
    exact = {}
    for name in engines:
        recording, _ = engines[name]
        recording.sent.clear()
        _reader(engines, name).execute(query)
        (inner,) = recording.sent
        cursor = recording.connection.cursor()
        cursor.execute(inner)
        exact[name] = _rows(list(cursor))
    assert _close(exact["duckdb"], exact["sqlite"], rel=1e-12), query

    # Released with an epsilon so large the noise is negligible: the same keys and values
    # (a count's discrete noise is still a unit or two).
    released = {name: _rows(_reader(engines, name, epsilon=1e9, delta=0.5).execute(query)[1:])
                for name in engines}
    assert _close(released["duckdb"], released["sqlite"], rel=1e-3, absolute=2), query


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


def test_duckdb_reads_no_file_and_loads_no_extension(engines: dict) -> None:
    recording, _ = engines["duckdb"]
    cursor = recording.connection.cursor()
    _assert_sealed(cursor)


def test_dummy_tables_share_a_sealed_database_and_see_only_their_own_tables() -> None:
    first = SqlTable(pd.DataFrame({"a": range(50)}), "one", dummy=True)
    second = SqlTable(pd.DataFrame({"a": range(5)}), "one", dummy=True)
    cursor, other = first.connection.cursor(), second.connection.cursor()
    cursor.execute("SELECT COUNT(*) FROM one")
    other.execute("SELECT COUNT(*) FROM df")
    assert list(cursor) == [(50,)] and list(other) == [(5,)]
    _assert_sealed(cursor)
