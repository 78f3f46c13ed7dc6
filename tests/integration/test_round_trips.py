"""How many times a charged query goes to the store, counted, so that a regression fails.

SQLite: every call into the store is one transaction (the counting wrapper counts calls).
MongoDB (the mongoeco stand-in): every command on the wire (pymongo's command monitor).
The token of a burst is looked up once (LOMAS_AUTH_CACHE_SECONDS), so the counts are
those of a researcher's second query onwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.container.serve import create_wsgi
from lomas.adapters.sqlite import SqliteStore
from lomas.domain import PrivacyCost
from lomas.testing.counting import Counting, count_trips, counted_mongo
from lomas_client import Client
from tests.conftest import make_world
from tests.support.wsgi_transport import session_for

URL = "http://lomas.test"
BUDGET = PrivacyCost(100.0, 1e-2)
SQL = "SELECT COUNT(*) AS n FROM income"
DIRECT = {"dataset_name": "income", "query_str": SQL, "epsilon": 0.1, "delta": 1e-6}

# The targets: a charged query on the direct path, and on the client's job path.
SQLITE_DIRECT, SQLITE_JOB = 3, 4
# MongoDB writes one document per command: the rate window, the claim (archives) and the
# spend (grants) are three, the archive's outcome and the grant's pending key two; a job
# adds its own record, its charge, its start (with its dataset read) and its outcome.
MONGO_DIRECT, MONGO_JOB = 6, 11


@pytest.fixture(params=["sqlite", "mongoeco"])
def counted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any, Any]]:
    """(store kind, the world, what counts its round trips)."""
    if request.param == "sqlite":
        store = Counting(SqliteStore.open(tmp_path / "lomas.sqlite3"))
        yield "sqlite", make_world(store, tmp_path, BUDGET, auth_cache_seconds=5), store
        return
    db = f"lomas_test_{uuid.uuid4().hex[:12]}"
    mongo, listener = counted_mongo(request.getfixturevalue("embedded_uri"), db)
    mongo.ensure_indexes()
    yield "mongoeco", make_world(mongo, tmp_path, BUDGET, auth_cache_seconds=5), listener
    mongo._client.drop_database(db)
    mongo.close()


def test_a_charged_query_on_the_direct_path(counted: tuple[str, Any, Any]) -> None:
    kind, world, counter = counted
    session = session_for(create_wsgi(world.ctx))

    def query() -> None:
        answer = session.post(f"{URL}/smartnoise_sql_query", json=DIRECT,
                              headers={"Authorization": f"Bearer {world.token}"})
        assert answer.status_code == 200, answer.text

    trips = count_trips(counter, query)
    assert len(trips) <= (SQLITE_DIRECT if kind == "sqlite" else MONGO_DIRECT), " | ".join(trips)


def test_a_charged_query_on_the_clients_job_path(counted: tuple[str, Any, Any]) -> None:
    kind, world, counter = counted
    client = Client(URL, world.token, "income", session=session_for(create_wsgi(world.ctx)))

    def query() -> None:
        assert len(client.smartnoise_sql.query(SQL, epsilon=0.1, delta=1e-6)) == 1

    trips = count_trips(counter, query)
    assert len(trips) <= (SQLITE_JOB if kind == "sqlite" else MONGO_JOB), " | ".join(trips)
    grant = world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == pytest.approx(0.3)  # each charged


def test_a_rotated_token_stops_working_within_five_seconds(tmp_path: Path) -> None:
    from lomas.services.tokens import hash_token, new_token
    from lomas.testing.fakes import InMemoryStore

    world = make_world(InMemoryStore(), tmp_path, PrivacyCost(10.0, 1e-3))
    session = session_for(create_wsgi(world.ctx))

    def status() -> int:
        return session.post(f"{URL}/get_remaining_budget", json={"dataset_name": "income"},
                            headers={"Authorization": f"Bearer {world.token}"}).status_code

    assert status() == 200
    world.store.set_token_hash("alice", hash_token(new_token()))  # rotated by an admin
    rotated = time.monotonic()
    assert status() == 200  # still cached: a burst looks its token up once
    while status() == 200:
        assert time.monotonic() - rotated < 5.0, "the old token still works after 5 s"
        time.sleep(0.1)
    assert status() == 401
