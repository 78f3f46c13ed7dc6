"""Privacy defaults never weaker than SmartNoise's, over real HTTP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import requests

from tests.conftest import LiveServer

CODES = 150


def _register(server: LiveServer, name: str, **table: object) -> None:
    """A private column `code` with 150 distinct values, about two rows each."""
    root = server.world.ctx.settings.resolved_data_root
    rng = np.random.default_rng(5)
    pd.DataFrame({"code": rng.integers(0, CODES, 300), "x": rng.uniform(0, 1, 300)}).to_csv(
        root / f"{name}.csv", index=False)
    metadata = {"rows": 300, **table, "columns": {
        "code": {"type": "int", "lower": 0, "upper": CODES - 1},
        "x": {"type": "float", "lower": 0, "upper": 1}}}
    admin = {"Authorization": f"Bearer {server.world.admin_token}"}
    r = requests.post(f"{server.url}/admin/datasets", headers=admin, timeout=30, json={
        "dataset_name": name, "dataset_access": {"type": "local", "path": f"{name}.csv"},
        "metadata": metadata})
    assert r.status_code == 201, r.text
    r = requests.put(f"{server.url}/admin/grants/alice/{name}", headers=admin, timeout=30,
                     json={"initial_epsilon": 10, "initial_delta": 1e-3})
    assert r.status_code == 200, r.text


def _group_by(server: LiveServer, name: str) -> list:
    r = requests.post(f"{server.url}/smartnoise_sql_query", timeout=60,
                      headers={"Authorization": f"Bearer {server.world.token}"},
                      json={"dataset_name": name, "epsilon": 1.0, "delta": 1e-5,
                            "query_str": f"SELECT code, COUNT(*) AS n FROM {name} GROUP BY code"})
    assert r.status_code == 200, r.text
    return r.json()["result"]["df"]["data"]


def _check(server: LiveServer, name: str) -> dict:
    r = requests.post(f"{server.url}/admin/datasets/{name}/check", timeout=60,
                      headers={"Authorization": f"Bearer {server.world.admin_token}"})
    assert r.status_code == 200, r.text
    return r.json()


def _metadata(server: LiveServer, name: str) -> dict:
    r = requests.post(f"{server.url}/get_dataset_metadata", json={"dataset_name": name},
                      headers={"Authorization": f"Bearer {server.world.token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_group_by_keys_of_a_private_column_are_censored_by_default(
        live_server: LiveServer) -> None:
    _register(live_server, "codes")
    rows = _group_by(live_server, "codes")
    assert len(rows) < 10  # of 150 keys, each in ~2 rows: almost none pass the threshold
    assert _metadata(live_server, "codes")["censor_dims"] is True
    report = _check(live_server, "codes")
    assert report["privacy"]["censor_dims"] is True and report["warnings"] == []


def test_releasing_every_key_is_an_explicit_choice_that_shows(live_server: LiveServer) -> None:
    _register(live_server, "codes_open", censor_dims=False)
    assert len(_group_by(live_server, "codes_open")) > 100
    assert _metadata(live_server, "codes_open")["censor_dims"] is False
    report = _check(live_server, "codes_open")
    assert report["privacy"]["censor_dims"] is False
    assert any("censor_dims is false" in w for w in report["warnings"])


@pytest.mark.parametrize(("table", "row_privacy"), [({}, True), ({"max_ids": 2}, True)])
def test_row_privacy_default(table: dict, row_privacy: bool) -> None:
    from lomas_contract.models import DatasetMetadata

    md = DatasetMetadata.model_validate(
        {**table, "columns": {"x": {"type": "float", "lower": 0, "upper": 1}}})
    assert md.row_privacy is row_privacy
    keyed = DatasetMetadata.model_validate(
        {"columns": {"pid": {"type": "int", "private_id": True},
                     "x": {"type": "float", "lower": 0, "upper": 1}}})
    assert keyed.row_privacy is False  # rows of one individual are not separate people
    with pytest.raises(ValueError, match="private_id"):
        DatasetMetadata.model_validate(
            {"row_privacy": True, "columns": {"pid": {"type": "int", "private_id": True}}})


def test_nulls_where_the_metadata_promises_none_are_refused_not_queried(
        live_server: LiveServer) -> None:
    _register(live_server, "holes")
    root = live_server.world.ctx.settings.resolved_data_root
    frame = pd.read_csv(root / "holes.csv")
    frame.loc[:9, "x"] = None  # `x` is not declared nullable
    frame.to_csv(root / "holes.csv", index=False)
    r = requests.post(f"{live_server.url}/smartnoise_sql_query", timeout=60,
                      headers={"Authorization": f"Bearer {live_server.world.token}"},
                      json={"dataset_name": "holes", "epsilon": 1.0, "delta": 1e-5,
                            "query_str": "SELECT AVG(x) AS a FROM holes"})
    assert r.status_code == 503 and r.json()["type"] == "DatasetUnavailable"
    grant = live_server.world.store.get_grant("alice", "holes")
    assert grant is not None and grant.spent.epsilon == 0  # refunded: nothing was released
    problems = _check(live_server, "holes")["problems"]
    assert {"column": "x", "problem": "nulls in a non-nullable column", "rows": 10} in problems
