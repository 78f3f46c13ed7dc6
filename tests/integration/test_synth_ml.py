"""SmartNoise-Synth and DiffPrivLib fitted for real: each price equals the library's own
accounting after the fit, the released model predicts as the server's did, a fit past
its limit fails with its cost kept, fits never hold the other jobs' workers, and torch
is not installed."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lomas.adapters.runners import ThreadRunner
from lomas.domain import Dataset, PrivacyCost, User
from lomas.engines import ENGINES
from lomas.engines.diffprivlib import fit as dpl_fit
from lomas.engines.diffprivlib import score
from lomas.engines.isolation import child_environment
from lomas.engines.smartnoise_synth import fit as synth_fit
from lomas.engines.smartnoise_synth import tables
from lomas.engines.smartnoise_synth.columns import from_dicts
from lomas.engines.smartnoise_synth.params import mwem_spent
from lomas.services import jobs, querying
from lomas.testing.fakes import InMemoryStore
from lomas_contract.engines.diffprivlib import TYPE_PREFIX, rebuild
from tests.conftest import World, make_world

BOUNDS = [[18, 0], [90, 500_000]]


@pytest.fixture
def fit_world(tmp_path: Path) -> World:
    return make_world(InMemoryStore(), tmp_path, PrivacyCost(100.0, 1e-2))


def _prepared(world: World, engine: str, dataset: str = "income", **fields: Any) -> Any:
    spec = ENGINES[engine].spec
    req = spec.query.model_validate({"dataset_name": dataset, **fields})
    found = world.store.get_dataset(dataset)
    assert found is not None
    return found, querying.prepare(world.ctx, ENGINES[engine], found, req)


def _as_sent(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as the child reads it: through JSON (tuples become lists)."""
    return json.loads(json.dumps(spec))


def _rows(dataset: Dataset, columns: list[str], n: int = 600) -> Any:
    return querying.dummy_handle(dataset, n, 5).lazy().select(columns).collect()


def _twice_as_many_ids(world: World) -> None:
    dataset = world.store.get_dataset("income")
    assert dataset is not None
    metadata = dataset.metadata.model_copy(update={"max_ids": 2, "row_privacy": False})
    world.store.create_dataset(Dataset("income2", dataset.access, metadata))


# ---------------------------------------------------------------- synthesizers ---
@pytest.mark.slow
def test_mwem_is_charged_what_its_accountant_adds_up(fit_world: World) -> None:
    fields = {"synth_name": "mwem", "epsilon": 0.7, "select_cols": ["sex", "age", "education"],
              "synth_params": {"iterations": 7}}
    dataset, prepared = _prepared(fit_world, "smartnoise_synth", **fields)
    assert prepared.fit is not None
    spec = prepared.fit.spec
    synth, draw = synth_fit.fit_mwem(spec, from_dicts(spec["columns"]),
                                     _rows(dataset, prepared.fit.columns))
    assert prepared.cost == PrivacyCost(synth.spent, 0.0)  # to the float
    assert len(synth.accountant) == 2 * 7
    assert set(draw(50)["education"]) <= set(dataset.metadata.columns["education"].categories)

    _twice_as_many_ids(fit_world)  # a person's two rows: MWEM runs at epsilon / 2
    _, doubled = _prepared(fit_world, "smartnoise_synth", "income2", **fields)
    assert doubled.fit.spec["epsilon"] == 0.35
    assert doubled.cost.epsilon == 2 * mwem_spent(0.35, doubled.fit.spec["params"], 3)


@pytest.mark.slow
@pytest.mark.parametrize("synth", ["mst", "aim"])
def test_mst_and_aim_are_charged_what_opendps_map_says(fit_world: World, synth: str) -> None:
    params = {"rounds": 3} if synth == "aim" else {}
    dataset, prepared = _prepared(fit_world, "smartnoise_synth", synth_name=synth, epsilon=1.0,
                                  delta=1e-6, select_cols=["sex", "age", "income"],
                                  synth_params=params, nb_samples=40)
    spec = prepared.fit.spec
    columns = from_dicts(spec["columns"])
    table = tables.fit(synth, spec["params"], columns, spec["rho"], 1, spec["rows"],
                       _rows(dataset, prepared.fit.columns))
    meas = tables.measurement(synth, spec["params"], columns, spec["rho"], 1, spec["rows"])
    _, d_in = tables.unit(1)
    assert meas.map(d_in) == spec["rho"]  # the zCDP spend the table was released at
    eps, delta = tables.approximate(meas, 1e-6).map(d_in)
    assert prepared.cost == PrivacyCost(eps, delta)  # to the float
    assert eps <= 1.0 and delta == 1e-6
    samples = tables.sample(table, columns, 40)
    assert len(samples) == 40
    assert samples["age"].between(18, 90).all() and samples["income"].between(0, 500_000).all()
    assert set(samples["sex"]) <= {"F", "M"}


@pytest.mark.slow
def test_a_synthetic_query_runs_in_a_child_once_and_is_charged_once(fit_world: World) -> None:
    engine = ENGINES["smartnoise_synth"]
    req = engine.spec.query(dataset_name="income", synth_name="mwem", epsilon=0.5,
                            select_cols=["sex", "age"], synth_params={"iterations": 5},
                            nb_samples=30, condition="age >= 40 AND sex = 'F'")
    out = querying.run_query(fit_world.ctx, User("alice"), engine, req, "synth-1")
    again = querying.run_query(fit_world.ctx, User("alice"), engine, req, "synth-1")
    assert again == out  # a retry replays, never fits or charges again
    frame = engine.spec.result.model_validate(out["result"]).released()
    assert list(frame.columns) == ["sex", "age"] and len(frame) <= 30
    assert (frame["age"] >= 40).all() and (frame["sex"] == "F").all()
    grant = fit_world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent == PrivacyCost(0.5, 0.0)


# ---------------------------------------------------------------------- models ---
def _pipeline(*steps: dict[str, Any]) -> str:
    return json.dumps({"module": "diffprivlib", "version": "0.6.6", "pipeline": list(steps)})


def _step(kind: str, **params: Any) -> dict[str, Any]:
    return {"type": TYPE_PREFIX + kind, "name": kind.lower(), "params": params}


SCALER = _step("StandardScaler", epsilon=0.5, bounds=BOUNDS)
PIPELINES = {
    "LogisticRegression": ([SCALER, _step("LogisticRegression", epsilon=1.0, data_norm=2.0)],
                           ["education"]),
    "GaussianNB": ([_step("GaussianNB", epsilon=0.8, bounds=BOUNDS)], ["sex"]),
    "LinearRegression": ([_step("LinearRegression", epsilon=0.9, bounds_X=[[18], [500_000]],
                                bounds_y=[18, 90])], ["age"]),
    "KMeans": ([_step("KMeans", epsilon=0.6, n_clusters=3, bounds=BOUNDS)], None),
    "PCA": ([SCALER, _step("PCA", epsilon=0.4, n_components=1, data_norm=3.0, centered=True),
             _step("LogisticRegression", epsilon=0.3, data_norm=2.0)], ["sex"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(PIPELINES))
def test_a_model_is_charged_what_the_budget_accountant_spent_and_rebuilds_exactly(
        fit_world: World, kind: str) -> None:
    steps, target = PIPELINES[kind]
    features = ["income"] if kind == "LinearRegression" else ["age", "income"]
    dataset, prepared = _prepared(fit_world, "diffprivlib", diffprivlib_json=_pipeline(*steps),
                                  feature_columns=features, target_columns=target)
    rows = _rows(dataset, prepared.fit.columns, 800)
    fitted, accountant, X_test, _ = dpl_fit.fit_pipeline(_as_sent(prepared.fit.spec), rows)
    assert prepared.cost == PrivacyCost(accountant.total()[0], 0.0)  # to the float
    assert accountant.total()[1] == 0.0

    released = rebuild(dpl_fit.export(fitted, prepared.fit.spec))
    assert type(released.steps[-1][1]).__module__.startswith("sklearn.")
    ours, theirs = released.predict(X_test), fitted.predict(X_test)
    if kind == "LinearRegression":
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    else:
        assert (ours == theirs).all()


@pytest.mark.slow
def test_a_classifier_knows_every_class_of_the_metadata_not_only_those_in_the_data(
        fit_world: World) -> None:
    steps, _ = PIPELINES["LogisticRegression"]
    dataset, prepared = _prepared(fit_world, "diffprivlib", diffprivlib_json=_pipeline(*steps),
                                  feature_columns=["age", "income"], target_columns=["education"])
    import polars as pl

    rows = _rows(dataset, prepared.fit.columns, 400).with_columns(
        education=pl.lit("secondary"))  # one class only in the private rows
    fitted, _, _, _ = dpl_fit.fit_pipeline(_as_sent(prepared.fit.spec), rows)
    assert list(fitted.steps[-1][1].classes_) == sorted(
        dataset.metadata.columns["education"].categories)


@pytest.mark.slow
def test_the_score_is_released_through_opendp_and_charged(fit_world: World) -> None:
    steps, _ = PIPELINES["GaussianNB"]
    engine = ENGINES["diffprivlib"]
    req = engine.spec.query(dataset_name="income", diffprivlib_json=_pipeline(*steps),
                            feature_columns=["age", "income"], target_columns=["sex"],
                            score_epsilon=0.4)
    out = querying.run_query(fit_world.ctx, User("alice"), engine, req, None)
    assert out["epsilon"] == 0.8 + score.cost(0.4, 1, 1)
    assert score.cost(0.4, 1, 1) == pytest.approx(0.4) and score.cost(0.4, 1, 1) <= 0.4
    trained = engine.spec.result.model_validate(out["result"]).released()
    assert trained.score_metric == "accuracy" and 0.0 <= trained.score <= 1.0
    assert "class_count_" not in str(trained.model) and "n_samples" not in str(trained.model)


# ------------------------------------------------------------------ as jobs ---
@pytest.mark.slow
def test_a_fit_past_its_limit_fails_and_its_cost_stays_spent(tmp_path: Path) -> None:
    world = make_world(InMemoryStore(), tmp_path, PrivacyCost(10.0, 1e-3),
                       fit_timeout_seconds=1.0)
    engine = ENGINES["smartnoise_synth"]
    req = engine.spec.query(dataset_name="income", synth_name="mwem", epsilon=1.0,
                            synth_params={"iterations": 400})
    job = jobs.submit(world.ctx, User("alice"), engine, req, "slow-fit", dummy=False)
    started = time.monotonic()
    while not job.finished and time.monotonic() - started < 30:
        job = jobs.status(world.ctx, User("alice"), job.uid, wait=5)
    assert job.status == "failed" and job.error is not None
    assert "time limit" in job.error["message"]
    assert time.monotonic() - started < 20  # stopped at its limit, not run to the end
    grant = world.store.get_grant("alice", "income")
    assert grant is not None and grant.spent.epsilon == 1.0  # the data was read: kept
    archived = world.store.list_archives("alice")
    assert [(a.status, a.cost) for a in archived] == [("failed", PrivacyCost(1.0, 0.0))]


def test_fit_jobs_never_hold_the_workers_of_other_jobs() -> None:
    runner = ThreadRunner(workers=1, fit_workers=1)
    release, ran = threading.Event(), threading.Event()
    runner.dispatch("fit-1", release.wait, fit=True)
    runner.dispatch("fit-2", release.wait, fit=True)  # waits for the fit slot
    runner.dispatch("query-1", ran.set)
    assert ran.wait(5), "a query job waited behind the fits"
    release.set()
    runner.shutdown()


def test_a_fit_gets_no_secret_and_no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOMAS_SECRET_CENSUS", '{"password": "s3cret"}')
    monkeypatch.setenv("LOMAS_MONGODB_URL", "mongodb://user:pw@db")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "key")
    env = child_environment()
    assert not any(k.startswith(("LOMAS_", "AWS_")) for k in env)
    assert env["JAX_PLATFORMS"] == "cpu"
    assert "PATH" in env or "PATH" not in os.environ


def test_torch_is_not_installed() -> None:
    with pytest.raises(ModuleNotFoundError):
        import torch  # noqa: F401
