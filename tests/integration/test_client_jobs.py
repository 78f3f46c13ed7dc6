"""The client on long queries: query() waits through the job, submit() hands it back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from lomas.domain import PrivacyCost
from lomas_client import BudgetExhaustedError, Client
from lomas_client.jobs import JobTimeoutError
from tests.conftest import LiveServer, make_world, serve
from tests.integration.test_jobs import _remote
from tests.support.slow_data import SlowData

SQL = "SELECT COUNT(*) AS n FROM remote"


@pytest.fixture
def short_waits(tmp_path: Path, mongo_store) -> Iterator[LiveServer]:
    """A server that holds any request at most 1 s (job_max_wait_seconds): a query whose
    data takes longer becomes a job the client has to follow."""
    world = make_world(mongo_store, tmp_path, PrivacyCost(10.0, 1e-3), job_max_wait_seconds=1)
    yield from serve(world)


def _release_later(data: SlowData, seconds: float = 2.5) -> None:
    """Let the data come `seconds` after the job started reading it (past the 1 s wait)."""

    def release() -> None:
        data.started.wait(60)
        time.sleep(seconds)
        data.release.set()

    threading.Thread(target=release, daemon=True).start()


def _client(server: LiveServer, **options: object) -> Client:
    return Client(server.url, server.world.token, "remote", **options)  # type: ignore[arg-type]


def test_query_on_a_long_job_returns_the_frame_with_progress(
        short_waits: LiveServer, slow_data: SlowData, capsys: pytest.CaptureFixture[str]) -> None:
    _remote(short_waits.world, slow_data)
    _release_later(slow_data)
    frame = _client(short_waits).smartnoise_sql.query(SQL, epsilon=1.0, delta=1e-5)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["n"]
    err = capsys.readouterr().err
    assert "lomas job" in err and "in progress" in err and "complete" in err
    assert len(short_waits.world.store.list_archives(user="alice", dataset="remote")) == 1


def test_progress_can_be_turned_off(short_waits: LiveServer, slow_data: SlowData,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    _remote(short_waits.world, slow_data)
    _release_later(slow_data)
    frame = _client(short_waits, progress=False).smartnoise_sql.query(SQL, epsilon=1.0,
                                                                      delta=1e-5)
    assert list(frame.columns) == ["n"]
    assert capsys.readouterr().err == ""


def test_submit_returns_a_handle(short_waits: LiveServer, slow_data: SlowData) -> None:
    world = short_waits.world
    _remote(world, slow_data)
    client = _client(short_waits, progress=False)
    job = client.smartnoise_sql.submit(SQL, epsilon=1.0, delta=1e-5)
    assert job.status() == "in_progress"
    spent = world.store.get_grant("alice", "remote").spent
    assert spent.epsilon > 0  # charged at submit
    with pytest.raises(JobTimeoutError) as waited:
        job.result(timeout=0.5)
    assert waited.value.uid == job.uid
    slow_data.release.set()
    frame = client.job(job.uid).result(timeout=60)  # found again by its uid
    assert list(frame.columns) == ["n"]
    assert job.result() .equals(frame)  # the same stored result
    assert job.status() == "complete"
    assert world.store.get_grant("alice", "remote").spent == spent  # charged once

    world.store.put_grant("alice", "remote", spent)  # nothing left
    with pytest.raises(BudgetExhaustedError):
        client.smartnoise_sql.submit(SQL, epsilon=1.0, delta=1e-5)
    dummy = client.smartnoise_sql.submit(SQL, epsilon=1.0, delta=1e-5, dummy=True)
    assert list(dummy.result(timeout=60).columns) == ["n"]
