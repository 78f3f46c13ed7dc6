"""SmartNoise-Synth and DiffPrivLib requests that may not run: each a 400 with its reason,
nothing charged, nothing fitted; and the estimate, which never reads the data."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from lomas.domain import PrivacyCost
from lomas.engines.smartnoise_synth import params as synth_params
from lomas.engines.smartnoise_synth.columns import SynthColumn
from lomas.errors import InvalidQuery
from lomas_contract.engines.diffprivlib import TYPE_PREFIX
from tests.conftest import World
from tests.functional.test_query_api import error, post
from tests.support.data import codes_dataset

SCALER = {"type": TYPE_PREFIX + "StandardScaler", "name": "scaler",
          "params": {"epsilon": 0.5, "bounds": {"_tuple": True, "_items": [[18, 0],
                                                                           [90, 500000]]}}}
LOGIT = {"type": TYPE_PREFIX + "LogisticRegression", "name": "clf",
         "params": {"epsilon": 1.0, "data_norm": 2.0}}


def pipeline_json(*steps: dict) -> str:
    return json.dumps({"module": "diffprivlib", "version": "0.6.6", "pipeline": list(steps)})


def synth(**extra: object) -> dict[str, object]:
    return {"dataset_name": "income", "synth_name": "mwem", "epsilon": 1.0,
            "select_cols": ["sex", "age"], **extra}


def model(*steps: dict, **extra: object) -> dict[str, object]:
    return {"dataset_name": "income", "diffprivlib_json": pipeline_json(*(steps or (SCALER,
                                                                                     LOGIT))),
            "feature_columns": ["age", "income"], "target_columns": ["sex"], **extra}


def with_params(step: dict, **params: object) -> dict:
    return {**step, "params": {**step["params"], **params}}


def spent(world: World) -> PrivacyCost:
    grant = world.store.get_grant("alice", "income")
    assert grant is not None
    return grant.spent


SYNTH_REFUSALS = {
    "unknown synthesizer": (synth(synth_name="copula"), "Unknown synthesizer"),
    "a GAN": (synth(synth_name="dpctgan"), "after each epoch"),
    "pacsynth": (synth(synth_name="pacsynth"), "Rust panic"),
    "unknown parameter": (synth(synth_params={"verbose": True}), "not allowed"),
    "a parameter that calls": (synth(synth_params={"__class__": "os.system"}), "not allowed"),
    "iterations out of range": (synth(synth_params={"iterations": 10**6}), "iterations"),
    "a bool for a number": (synth(synth_params={"iterations": True}), "iterations"),
    "a string for a number": (synth(synth_params={"iterations": "9"}), "iterations"),
    "aim degree out of range": (synth(synth_name="aim", delta=1e-5,
                                      synth_params={"queries": 9}), "queries"),
    "a column not in the metadata": (synth(select_cols=["sex", "salary"]), "'salary'"),
    "a column twice": (synth(select_cols=["sex", "sex"]), "twice"),
    "mst with delta 0": (synth(synth_name="mst", delta=0.0), "delta > 0"),
    "aim without delta": (synth(synth_name="aim"), "delta > 0"),
    "return_model": (synth(return_model=True), "pickle"),
    "constraints as code": (synth(constraints="{'age': 'lambda x: x'}"), "constraints"),
    "a condition with a statement": (synth(condition="age > 1; DROP TABLE x"), "semicolon"),
    "a condition that calls": (synth(condition="read_csv('/etc/passwd') IS NULL"), "parse"),
    "a condition on a column not drawn": (synth(condition="income > 3"), "'income'"),
    "a condition with a subquery": (synth(condition="age > (SELECT 1)"), "parse"),
    "too many values": (synth(nb_samples=1_500_000), "limit"),
}

MODEL_REFUSALS = {
    "a class outside the allowlist": (model(dict(LOGIT, type=TYPE_PREFIX + "SVC")),
                                      "not allowed"),
    "a class that imports": (model(dict(LOGIT, type="_dpl_type:os.system")), "not allowed"),
    "a dotted class name": (model(dict(LOGIT, type="builtins.eval")), "not allowed"),
    "a forest (not exported)": (model(dict(LOGIT, type=TYPE_PREFIX + "RandomForestClassifier")),
                                "not allowed"),
    "an instance of another class": (model(with_params(LOGIT, data_norm="_dpl_instance:Popen")),
                                     "may not name a class"),
    "an object parameter": (model(with_params(LOGIT, C={"__reduce__": "os.system"})),
                            "only literals"),
    "an unknown parameter": (model(with_params(LOGIT, solver="lbfgs")), "not allowed"),
    "epsilon out of range": (model(with_params(LOGIT, epsilon=-1)), "epsilon"),
    "a huge epsilon": (model(with_params(LOGIT, epsilon=1e9)), "epsilon"),
    "a fixed random_state": (model(with_params(LOGIT, random_state=42)), "random_state"),
    "a scaler without bounds": (model({**SCALER, "params": {"epsilon": 0.5}}, LOGIT),
                                "PrivacyLeakWarning"),
    "a model without data_norm": (model(SCALER, {**LOGIT, "params": {"epsilon": 1.0}}),
                                  "data_norm"),
    "bounds of the wrong width": (model(with_params(SCALER, bounds=[[0], [1]]), LOGIT),
                                  "2 numbers"),
    "an estimator before the end": (model(LOGIT, SCALER), "last step"),
    "a feature not in the metadata": (model(feature_columns=["age", "salary"]), "'salary'"),
    "a string feature": (model(feature_columns=["age", "region"]), "string column"),
    "a numeric target for a classifier": (model(
        {"type": TYPE_PREFIX + "GaussianNB", "name": "nb", "params": {"bounds": [[18], [90]]}},
        feature_columns=["age"], target_columns=["income"]), "categorical"),
    "a feature as the target": (model(target_columns=["income"]), "both a feature"),
    "no target for a classifier": (model(target_columns=None), "target column"),
    "an imputer that reads the data": (model(imputer_strategy="mean"), "'mean'"),
    "a score for KMeans": (model({"type": TYPE_PREFIX + "KMeans", "name": "k", "params": {
        "epsilon": 1.0, "n_clusters": 3, "bounds": [[18, 0], [90, 500000]]}},
        target_columns=None, score_epsilon=0.5), "no score"),
    "not JSON": ({**model(), "diffprivlib_json": "{not json"}, "not JSON"),
    "another module": ({**model(), "diffprivlib_json": json.dumps(
        {"module": "sklearn", "pipeline": []})}, "diffprivlib"),
}


@pytest.mark.parametrize("case", sorted(SYNTH_REFUSALS))
def test_a_synthesizer_request_that_may_not_run_is_a_400_with_nothing_charged(
        query_client: Client, world: World, case: str) -> None:
    body, reason = SYNTH_REFUSALS[case]
    response = post(query_client, "/smartnoise_synth_query", body, world.token)
    assert error(response) == (400, "InvalidQuery"), response.json_body
    assert reason in response.json_body["message"]
    assert spent(world) == PrivacyCost(0.0, 0.0)
    assert world.store.list_archives("alice") == []


@pytest.mark.parametrize("case", sorted(MODEL_REFUSALS))
def test_a_pipeline_that_may_not_run_is_a_400_with_nothing_charged(
        query_client: Client, world: World, case: str) -> None:
    body, reason = MODEL_REFUSALS[case]
    for route in ("/estimate_diffprivlib_cost", "/diffprivlib_query"):
        response = post(query_client, route, body, world.token)
        assert error(response) == (400, "InvalidQuery"), response.json_body
        assert reason in response.json_body["message"]
    assert spent(world) == PrivacyCost(0.0, 0.0)
    assert world.store.list_archives("alice") == []


def test_a_column_whose_values_the_metadata_does_not_bound_is_refused(
        query_client: Client, world: World) -> None:
    codes_dataset(world, "codes", ["a1", "b2"])
    response = post(query_client, "/smartnoise_synth_query",
                    synth(dataset_name="codes", select_cols=[]), world.token)
    assert error(response) == (400, "InvalidQuery")
    assert "no categories" in response.json_body["message"]


def test_a_table_too_large_for_memory_is_refused_before_any_fit() -> None:
    wide = [SynthColumn(f"c{i}", "string", False, categories=list(range(40))) for i in range(6)]
    with pytest.raises(InvalidQuery, match="over the limit"):
        synth_params.checked("mwem", {}, wide)
    synth_params.checked("mwem", {"split_factor": 2}, wide)  # 1,600 cells per split
    with pytest.raises(InvalidQuery, match="3-way marginal"):
        synth_params.checked("aim", {}, [SynthColumn(f"c{i}", "string", False,
                                                     categories=list(range(400)))
                                         for i in range(3)])


def test_the_estimates_answer_without_opening_the_data(
        query_client: Client, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise AssertionError("the estimate opened the data")

    monkeypatch.setattr(world.ctx.handles, "open", broken)
    monkeypatch.setattr(world.ctx.sources, "open", broken)
    for body in (synth(), synth(synth_name="mst", delta=1e-6), synth(synth_name="aim",
                                                                     delta=1e-6)):
        response = post(query_client, "/estimate_smartnoise_synth_cost", body, world.token)
        assert response.status_code == 200, response.json_body
        assert response.json_body["epsilon"] == pytest.approx(1.0)
        assert response.json_body["epsilon"] <= 1.0
        assert response.json_body["accuracy"]["available"] is False
    response = post(query_client, "/estimate_diffprivlib_cost", model(), world.token)
    assert response.status_code == 200
    assert response.json_body == {"epsilon": 1.5, "delta": 0.0, "accuracy": {
        "alpha": 0.05, "available": False, "reason": "not available for DiffPrivLib",
        "columns": []}}
    assert spent(world) == PrivacyCost(0.0, 0.0)


def test_an_engine_not_installed_here_is_a_501_before_any_charge(
        query_client: Client, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import lomas.services.querying as querying

    real = querying._installed
    monkeypatch.setattr(querying, "_installed", lambda name: name != "diffprivlib" and real(name))
    response = post(query_client, "/diffprivlib_query", model(), world.token)
    assert error(response) == (501, "EngineUnavailable")
    assert "nothing was charged" in response.json_body["message"]
    assert spent(world) == PrivacyCost(0.0, 0.0)
