"""PostgreSQL datasets against a real server: pushed down, read-only, faults, no secret leaks."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client
from pydantic import ValidationError

from lomas import demo
from lomas.domain import Dataset, PrivacyCost, User
from lomas.engines import ENGINES
from lomas.errors import (
    DatasetUnavailable,
    ExternalLibraryError,
    InvalidDocument,
    InvalidQuery,
)
from lomas.services import admin, querying
from lomas.testing.fakes import InMemoryStore
from lomas_contract import models as m
from lomas_contract.engines.opendp import OpenDPRequest
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlRequest
from lomas_contract.sources.postgres import PostgresAccess
from tests.conftest import World, _install, make_world
from tests.support.postgres import PASSWORD, PgDatabase, server_log

SQL = ENGINES["smartnoise_sql"]
ALICE = User("alice")
ROWS = 2_000
META = demo.income_metadata(ROWS)
BIG = 1_000_000
COUNT_AVG = "SELECT COUNT(*) AS n, AVG(income) AS a FROM {t}"
GROUPED = "SELECT region, COUNT(*) AS n FROM {t} GROUP BY region"


@pytest.fixture(scope="module")
def pg_tables(pg_db: PgDatabase) -> dict[str, str]:
    """A 2,000-row and a 1M-row income table."""
    return {"small": pg_db.load("income", demo.income_frame(ROWS, seed=7)),
            "big": pg_db.load("income_big", demo.income_frame(BIG, seed=11))}


OPENED: list[World] = []


@pytest.fixture(autouse=True)
def _close_pools() -> Iterator[None]:
    """Each world's pools are closed after its test (the server keeps few connections)."""
    yield
    while OPENED:
        OPENED.pop().ctx.sources._sources["postgres"].close()  # type: ignore[attr-defined]


def pg_world(tmp_path: Path, pg_db: PgDatabase, tables: dict[str, str],
             dsn: str | None = None, **settings: object) -> World:
    secrets = {"pg_reader": {"dsn": dsn or pg_db.reader_dsn()}}
    world = make_world(InMemoryStore(), tmp_path, PrivacyCost(10.0, 1e-3), secrets=secrets,
                       **settings)
    for name, table, rows in (("census", tables["small"], ROWS),
                              ("census_big", tables["big"], BIG)):
        access = PostgresAccess(credentials_name="pg_reader", table=table)
        world.store.create_dataset(Dataset(name, access, demo.income_metadata(rows)))
        world.store.put_grant("alice", name, PrivacyCost(100.0, 1e-2))
    OPENED.append(world)
    return world


@pytest.fixture
def world_pg(tmp_path: Path, pg_db: PgDatabase, pg_tables: dict[str, str]) -> World:
    return pg_world(tmp_path, pg_db, pg_tables)


def sql(dataset: str, query: str, **kw: object) -> SmartnoiseSqlRequest:
    return SmartnoiseSqlRequest(dataset_name=dataset, query_str=query.format(t=dataset),
                                epsilon=1.0, delta=1e-5, **kw)


def spent(world: World, dataset: str) -> PrivacyCost:
    grant = world.store.get_grant("alice", dataset)
    assert grant is not None
    return grant.spent


def released(answer: dict) -> dict:
    return dict(zip(answer["result"]["df"]["columns"], answer["result"]["df"]["data"][0],
                    strict=True))


def test_a_query_runs_in_the_database_and_costs_what_the_file_path_costs(
        world_pg: World) -> None:
    answer = querying.run_query(world_pg.ctx, ALICE, SQL, sql("census", COUNT_AVG), "k1")
    local = querying.estimate_cost(world_pg.ctx, ALICE, SQL, sql("income", COUNT_AVG))
    assert (answer["epsilon"], answer["delta"]) == (local.epsilon, local.delta)
    assert (local.epsilon, local.delta) == (3.0, pytest.approx(1.5e-5, rel=1e-5))
    assert spent(world_pg, "census") == PrivacyCost(local.epsilon, local.delta)
    values = released(answer)
    assert abs(values["n"] - ROWS) < 60
    grouped = querying.run_query(world_pg.ctx, ALICE, SQL, sql("census", GROUPED), "k2")
    keys = {row[0] for row in grouped["result"]["df"]["data"]}
    assert keys <= set(demo.REGIONS) and len(keys) >= 3  # censored keys may be missing


def test_only_aggregates_cross_the_wire_on_a_million_rows(
        tmp_path: Path, pg_db: PgDatabase, pg_tables: dict[str, str]) -> None:
    """The server's own log (log_statement and auto_explain for the reader role): each
    statement Lomas sends is one aggregate, its plan scans the million rows in the
    database and returns at most one row per GROUP BY key."""
    log = server_log()
    if log is None or not log.exists():
        pytest.fail("the PostgreSQL server log is not in /var/log/postgresql")
    from psycopg import sql as q

    role = q.Identifier(pg_db.role)
    for setting in ("log_statement = 'all'", "session_preload_libraries = 'auto_explain'",
                    "auto_explain.log_min_duration = 0", "auto_explain.log_analyze = on"):
        pg_db.execute(q.SQL("ALTER ROLE {} SET " + setting).format(role).as_string(None))
    try:
        world = pg_world(tmp_path, pg_db, pg_tables)  # new sessions pick the settings up
        offset = log.stat().st_size
        for key, query in (("p1", COUNT_AVG), ("p2", GROUPED)):
            answer = querying.run_query(world.ctx, ALICE, SQL, sql("census_big", query), key)
            assert answer["result"]["df"]["data"]
        text = _log_of(log, offset, pg_db.role)
    finally:
        pg_db.execute(q.SQL("ALTER ROLE {} RESET ALL").format(role).as_string(None))
    statements = [s for s in re.findall(r"statement: (.*)", text)
                  if s.strip() and not s.startswith(("SET ", "BEGIN", "COMMIT", "ROLLBACK",
                                                     "EXPLAIN "))]
    assert len(statements) == 2, "\n".join(map(repr, statements))
    planned = re.findall(r"statement: EXPLAIN (.*)", text)
    assert len(planned) == 2  # planned before the charge, reading no row
    for statement in statements:
        assert statement.startswith("WITH df AS NOT MATERIALIZED")
        assert re.search(r"\b(COUNT|SUM)\s*\(", statement, re.IGNORECASE)
    top_rows = [int(r) for r in re.findall(r"duration: [\d.]+ ms\s+plan:\s*\n\s*Query Text:.*?"
                                           r"\n\s*\S.*?actual time=[\d.]+\.\.[\d.]+ rows=(\d+)",
                                           text, re.DOTALL)]
    assert top_rows and max(top_rows) <= len(demo.REGIONS), top_rows
    scans = re.findall(r"Seq Scan on income_big .*?rows=(\d+) loops=(\d+)", text)
    scanned = sum(int(rows) * int(loops) for rows, loops in scans)  # per parallel worker
    assert scanned >= 2 * BIG * 0.99  # the million rows were read in the database, twice


def _log_of(log: Path, offset: int, role: str, wait: float = 5.0) -> str:
    """What the server logged for `role` after `offset` (the log is written asynchronously)."""
    deadline = time.monotonic() + wait
    while True:
        with log.open(errors="replace") as f:
            f.seek(offset)
            text = f.read()
        mine = "\n".join(chunk for chunk in re.split(r"\n(?=\d{4}-\d\d-\d\d )", text)
                         if f"{role}@" in chunk)
        if mine.count("plan:") >= 2 or time.monotonic() > deadline:
            return mine
        time.sleep(0.1)


def test_sessions_are_read_only(world_pg: World) -> None:
    import psycopg

    dataset = world_pg.store.get_dataset("census")
    handle = world_pg.ctx.sources.open(dataset)
    with handle.connection() as conn:  # type: ignore[attr-defined]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TEMP TABLE t (a int)")
        conn.rollback()
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"


def test_check_reports_counts_against_the_metadata(world_pg: World) -> None:
    ok = admin.check_dataset(world_pg.ctx, "census")
    assert (ok.rows, ok.problems) == (ROWS, [])
    wrong = demo.income_metadata(ROWS).model_dump()
    wrong["rows"] = 10
    wrong["columns"]["age"]["upper"] = 40
    wrong["columns"]["region"]["categories"] = wrong["columns"]["region"]["categories"][:-1]
    wrong["columns"]["region"]["cardinality"] -= 1
    wrong["columns"]["sex"] = {"type": "int", "lower": 0, "upper": 1}
    wrong["columns"]["height"] = {"type": "float", "lower": 0, "upper": 3}
    census = world_pg.store.get_dataset("census")
    world_pg.store.create_dataset(Dataset("census_wrong", census.access,
                                          m.DatasetMetadata.model_validate(wrong)))
    report = admin.check_dataset(world_pg.ctx, "census_wrong")
    found = {(p.column, p.problem.split(":")[0].split(" (")[0]): p.rows for p in report.problems}
    assert found.keys() == {("age", "values outside the bounds"), ("region", "type"),
                            ("sex", "type"), ("height", "missing from the table"),
                            (None, "declared 10 rows")}
    assert 0 < found[("age", "values outside the bounds")] < ROWS
    assert 0 < found[("region", "type")] < ROWS


def test_registration_validates_the_table_name_and_the_credentials(world_pg: World) -> None:
    for bad in ("income", "public.income; DROP TABLE x", 'public."x"', "a.b.c"):
        with pytest.raises(ValidationError):
            PostgresAccess(credentials_name="pg_reader", table=bad)
    request = m.CreateDatasetRequest(
        dataset_name="nope", metadata=META,
        dataset_access=PostgresAccess(credentials_name="no_such_secret", table="public.x"))
    with pytest.raises(InvalidDocument, match="unknown credentials name"):
        admin.create_dataset(world_pg.ctx, request)


def test_an_unreachable_database_is_a_503_and_refunded(
        tmp_path: Path, pg_db: PgDatabase, pg_tables: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    dsn = f"postgresql://reader:{PASSWORD}@127.0.0.1:9/test"
    world = pg_world(tmp_path, pg_db, pg_tables, dsn=dsn, source_connect_timeout=1.0)
    with pytest.raises(DatasetUnavailable):
        querying.run_query(world.ctx, ALICE, SQL, sql("census", COUNT_AVG), "down")
    assert spent(world, "census") == PrivacyCost(0.0, 0.0)
    app, _ = _install(world.ctx)
    with Client(app) as client:
        response = client.http.post("/smartnoise_sql_query", body=json.dumps(
            sql("census", COUNT_AVG).model_dump()), headers={
                "Authorization": f"Bearer {world.token}", "Content-Type": "application/json"})
    assert response.status_code == 503
    assert json.loads(response.body)["type"] == "DatasetUnavailable"
    assert spent(world, "census") == PrivacyCost(0.0, 0.0)
    report = admin.check_dataset(world.ctx, "census")
    assert report.problems[0].problem.startswith("cannot load")
    assert PASSWORD not in caplog.text + response.body.decode() + report.model_dump_json()


def test_a_statement_timeout_fails_the_query_and_keeps_its_cost(
        tmp_path: Path, pg_db: PgDatabase, pg_tables: dict[str, str]) -> None:
    world = pg_world(tmp_path, pg_db, pg_tables, postgres_statement_timeout_seconds=0.001)
    with pytest.raises(ExternalLibraryError, match="statement timeout"):
        querying.run_query(world.ctx, ALICE, SQL, sql("census_big", GROUPED), "slow")
    cost = querying.estimate_cost(world.ctx, ALICE, SQL, sql("census_big", GROUPED))
    assert spent(world, "census_big") == PrivacyCost(cost.epsilon, cost.delta) != (0.0, 0.0)
    [record] = world.store.list_archives(user="alice", dataset="census_big")
    assert record.status == "failed"


def test_an_engine_that_needs_rows_is_refused_before_any_charge(world_pg: World) -> None:
    import opendp.prelude as dp

    from lomas_client.opendp import OpenDPClient
    from lomas_contract.engines.opendp import polars_context

    context = polars_context(META, dp.loss_of(epsilon=1.0))
    pipeline = OpenDPClient.serialize(context.query().select(dp.len()))
    request = OpenDPRequest(dataset_name="census", opendp_json=pipeline)
    with pytest.raises(InvalidQuery, match="'postgres' dataset does not offer"):
        querying.run_query(world_pg.ctx, ALICE, ENGINES["opendp"], request, "o1")
    assert spent(world_pg, "census") == PrivacyCost(0.0, 0.0)


def test_the_dsn_appears_in_no_answer_log_line_or_archive(
        world_pg: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    query_app, admin_app = _install(world_pg.ctx)
    headers = {"Content-Type": "application/json"}
    bodies: list[str] = []
    with Client(query_app) as client:
        for path, body in (("/smartnoise_sql_query", sql("census", COUNT_AVG).model_dump()),
                           ("/smartnoise_sql_query", {"dataset_name": "census", "epsilon": 1.0,
                                                      "delta": 1e-5, "query_str": "SELECT x"}),
                           ("/get_dataset_metadata", {"dataset_name": "census"})):
            bodies.append(client.http.post(path, body=json.dumps(body), headers={
                **headers, "Authorization": f"Bearer {world_pg.token}"}).body.decode())
    with Client(admin_app) as client:
        auth = {"Authorization": f"Bearer {world_pg.admin_token}"}
        for method, path in (("GET", "/admin/datasets/census"), ("GET", "/admin/datasets"),
                             ("POST", "/admin/datasets/census/check"),
                             ("GET", "/admin/archives")):
            response = getattr(client.http, method.lower())(path, headers={**headers, **auth})
            assert response.status_code == 200, response.body
            bodies.append(response.body.decode())
    archives = [repr(r) for r in world_pg.store.list_archives()]
    assert archives and any("census" in b for b in bodies)
    for text in (*bodies, *archives, caplog.text):
        assert PASSWORD not in text and "dsn" not in text.lower()


def test_sql_the_database_cannot_run_is_refused_before_any_charge(world_pg: World) -> None:
    """`sex = TRUE` on a text column: PostgreSQL has no such operator. Its own planner says
    so before the charge (reading no row); SQLite, SmartNoise's reference, would answer."""
    query = "SELECT COUNT(*) AS n FROM {t} WHERE sex = TRUE"
    with pytest.raises(InvalidQuery, match=r"postgres database cannot run this query.*"
                       r"operator does not exist"):
        querying.run_query(world_pg.ctx, ALICE, SQL, sql("census", query), "gap")
    assert spent(world_pg, "census") == PrivacyCost(0.0, 0.0)
    assert world_pg.store.list_archives(user="alice", dataset="census") == []


def test_registration_checks_a_table_against_its_metadata(world_pg: World) -> None:
    access = world_pg.store.get_dataset("census").access
    ok = admin.create_dataset(world_pg.ctx, m.CreateDatasetRequest(
        dataset_name="census_ok", dataset_access=access, metadata=META))
    assert ok.dataset_name == "census_ok"
    wrong = META.model_dump()
    wrong["columns"]["height"] = {"type": "float", "lower": 0, "upper": 3}
    wrong["columns"]["sex"] = {"type": "int", "lower": 0, "upper": 1}
    with pytest.raises(InvalidDocument, match=r"sex: type.*height: missing from the table"):
        admin.create_dataset(world_pg.ctx, m.CreateDatasetRequest(
            dataset_name="census_bad", dataset_access=access, metadata=wrong))
    assert world_pg.store.get_dataset("census_bad") is None
