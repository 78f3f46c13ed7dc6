"""The Helm chart, through Helm as a library (no binary, no cluster): lint, render, validate."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from tests.infra.conftest import ROOT

CHART = ROOT / "infra" / "helm" / "lomas"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBE = sorted(all_versions(), key=lambda v: tuple(map(int, v.split("."))))
OLDEST, NEWEST = KUBE[0], KUBE[-1]
EXTERNAL = {"mongodbUrl": "mongodb://lomas:pw@mongo.db.svc:27017/?authSource=admin"}


def values_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def render(values: dict[str, Any]) -> dict[str, str]:
    """A fresh chart handle for each render (a render can change the handle)."""
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values, name="lomas", namespace="stats", is_install=True)


def manifests(values: dict[str, Any]) -> list[dict[str, Any]]:
    docs = []
    for path, text in render(values).items():
        if path.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        out.setdefault(doc["kind"], []).append(doc)
    return out


def test_the_chart_ships_its_ci_values() -> None:
    names = {p.name for p in CI_VALUES}
    assert {"minimal-values.yaml", "production-values.yaml", "mongodb-values.yaml"} <= names


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_strict_lint_is_clean(values_file: Path) -> None:
    for kube in (OLDEST, NEWEST):
        report = helm.lint(str(CHART), values_of(values_file), strict=True,
                           kube_version=f"v{kube}", with_subcharts=True)
        findings = [m for m in report["messages"] if m["severity"] >= 2]
        assert findings == [] and not report.get("errors"), report


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
@pytest.mark.parametrize("kube", [OLDEST, NEWEST])
def test_rendered_manifests_are_valid_kubernetes(values_file: Path, kube: str) -> None:
    docs = manifests(values_of(values_file))
    assert len(docs) >= 5
    for doc in docs:
        kubernetes_validate.validate(doc, kube, strict=True)


def _server(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(docs)["Deployment"]
    return deployment


def test_the_deployment_is_locked_down() -> None:
    docs = manifests(values_of(CHART / "ci" / "minimal-values.yaml"))
    pod = _server(docs)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]] and "emptyDir" in volumes[mounts["/var/lib/lomas"]]
    (config,) = by_kind(docs)["ConfigMap"]
    assert config["data"]["LOMAS_DEV_MODE"] == "false"
    assert config["data"]["LOMAS_STATE_DIR"] == "/var/lib/lomas"
    (secret,) = by_kind(docs)["Secret"]
    url = base64.b64decode(secret["data"]["mongodb-url"]).decode()
    assert url == values_of(CHART / "ci" / "minimal-values.yaml")["mongodbUrl"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LOMAS_MONGODB_URL"]["valueFrom"]["secretKeyRef"]["key"] == "mongodb-url"
    assert url not in yaml.safe_dump(_server(docs))  # the URL stays in the Secret
    kinds = set(by_kind(docs))
    assert not kinds & {"Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                        "StatefulSet"}


def test_production_values_add_ingress_hpa_and_pdb() -> None:
    docs = by_kind(manifests(values_of(CHART / "ci" / "production-values.yaml")))
    assert "replicas" not in docs["Deployment"][0]["spec"]  # the HPA owns it
    assert docs["HorizontalPodAutoscaler"][0]["spec"]["maxReplicas"] == 8
    assert docs["PodDisruptionBudget"][0]["spec"]["minAvailable"] == 1
    rule = docs["Ingress"][0]["spec"]["rules"][0]
    assert rule["host"] == "lomas.nso.internal"
    (secret,) = docs["Secret"]
    files = yaml.safe_load(base64.b64decode(secret["data"]["dataset-secrets.yaml"]))
    assert set(files["census_ro"]) == {"aws_access_key_id", "aws_secret_access_key"}
    config = docs["ConfigMap"][0]["data"]
    assert config["LOMAS_OIDC_ISSUER"] == "https://sso.nso.internal/realms/stats"
    assert (config["LOMAS_OIDC_AUDIENCE"], config["LOMAS_OIDC_ADMIN_VALUE"]) == (
        "lomas", "lomas-admins")
    minimal = by_kind(manifests(values_of(CHART / "ci" / "minimal-values.yaml")))
    assert not any(k.startswith("LOMAS_OIDC") for k in minimal["ConfigMap"][0]["data"])


def test_mongodb_enabled_runs_a_statefulset_the_server_uses() -> None:
    docs = by_kind(manifests(values_of(CHART / "ci" / "mongodb-values.yaml")))
    (sts,) = docs["StatefulSet"]
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"].startswith("mongo:")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"][
        "storage"] == "2Gi"
    (secret,) = docs["Secret"]
    password = base64.b64decode(secret["data"]["mongodb-password"]).decode()
    url = base64.b64decode(secret["data"]["mongodb-url"]).decode()
    assert len(password) == 32 and f"lomas:{password}@lomas-mongodb:27017" in url
    services = {s["metadata"]["name"]: s for s in docs["Service"]}
    server = services["lomas"]["spec"]["selector"]
    mongo = sts["spec"]["selector"]["matchLabels"]
    assert server["app.kubernetes.io/component"] == "server" != mongo["app.kubernetes.io/component"]


def test_an_existing_secret_replaces_the_chart_secret() -> None:
    docs = by_kind(manifests({"existingSecret": "lomas-prod"}))
    assert "Secret" not in docs
    container = _server([d for k in docs.values() for d in k])["spec"]["template"]["spec"][
        "containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["LOMAS_MONGODB_URL"]["valueFrom"]["secretKeyRef"]["name"] == "lomas-prod"


@pytest.mark.parametrize("values", [
    {"replicaCont": 2, **EXTERNAL},                      # misspelt key
    {"lomas": {"logLevl": "INFO"}, **EXTERNAL},          # misspelt nested key
    {"replicaCount": "two", **EXTERNAL},                 # wrong type
    {"ingress": {"enabled": "yes"}, **EXTERNAL},         # wrong type
    {"service": {"type": "Ingress"}, **EXTERNAL},        # not one of the choices
    {"lomas": {"oidc": {"issuer": "http://sso.nso.internal", "audience": "l"}},
     **EXTERNAL},                                        # a plain-http issuer
])
def test_the_schema_refuses_typos_and_wrong_types(values: dict[str, Any]) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(values)
    with pytest.raises(helm.HelmError):
        render(values)
    report = helm.lint(str(CHART), values, strict=True)
    assert report.get("errors") or any(m["severity"] >= 2 for m in report["messages"])


@pytest.mark.parametrize("url", [
    "",
    "   ",
    "mongodb://user:changeme@mongo:27017",
    "mongodb://<user>:<password>@<host>:27017",
    "mongodb+srv://admin:pw@cluster0.example.com/",
    "mongodb://${MONGO_HOST}:27017",
    "postgres://db:5432",
])
def test_the_chart_refuses_a_missing_or_placeholder_mongodb_url(url: str) -> None:
    with pytest.raises(helm.HelmError, match="mongodbUrl"):
        render({"mongodbUrl": url})


def test_an_oidc_issuer_needs_its_audience() -> None:
    with pytest.raises(helm.HelmError, match="audience is required"):
        render({"lomas": {"oidc": {"issuer": "https://sso.nso.internal"}}, **EXTERNAL})


def test_mongodb_enabled_with_an_external_url_is_refused() -> None:
    with pytest.raises(helm.HelmError, match="mongodbUrl must be empty"):
        render({"mongodb": {"enabled": True}, **EXTERNAL})


def test_the_sqlite_store_serves_one_pod_from_a_claim_the_release_keeps() -> None:
    docs = by_kind(manifests(values_of(CHART / "ci" / "sqlite-values.yaml")))
    deployment = _server([d for k in docs.values() for d in k])
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two on the file
    pod = deployment["spec"]["template"]["spec"]
    (claim,) = docs["PersistentVolumeClaim"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert "emptyDir" in volumes["cache"]  # downloads stay off the store's volume
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert (mounts["state"], mounts["cache"]) == ("/var/lib/lomas", "/var/lib/lomas/cache")
    assert docs["ConfigMap"][0]["data"]["LOMAS_STORE"] == "sqlite"
    assert "env" not in pod["containers"][0]  # no MongoDB URL to read
    (secret,) = docs["Secret"]
    assert "mongodb-url" not in secret["data"]
    mine = manifests({"store": "sqlite", "replicaCount": 1,
                      "sqlite": {"persistence": {"existingClaim": "ledger"}}})
    assert not [d for d in mine if d["kind"] == "PersistentVolumeClaim"]
    assert {"name": "state", "persistentVolumeClaim": {"claimName": "ledger"}} in _server(
        mine)["spec"]["template"]["spec"]["volumes"]


@pytest.mark.parametrize(("values", "says"), [
    ({}, "set replicaCount=1"),                                  # the default is 2
    ({"replicaCount": 1, "autoscaling": {"enabled": True}}, "autoscaling.enabled=false"),
    ({"replicaCount": 1, "podDisruptionBudget": {"enabled": True}},
     "podDisruptionBudget.enabled=false"),
    ({"replicaCount": 1, **EXTERNAL}, "leave mongodbUrl empty"),
    ({"replicaCount": 1, "mongodb": {"enabled": True}}, "mongodb.enabled=false"),
])
def test_the_sqlite_store_refuses_a_second_pod_or_a_mongodb(values: dict[str, Any],
                                                             says: str) -> None:
    with pytest.raises(helm.HelmError, match=says.replace(".", r"\.")):
        render({"store": "sqlite", **values})


def test_notes_tell_how_to_bootstrap_the_first_admin() -> None:
    notes = render(EXTERNAL)["lomas/templates/NOTES.txt"]
    assert "lomas-admin bootstrap" in notes and "port-forward svc/lomas" in notes


def test_every_setting_the_chart_and_template_set_exists() -> None:
    """The LOMAS_* names in the ConfigMap and the SAM template are Settings fields."""
    import re

    from lomas.config import Settings

    fields = {f"LOMAS_{name.upper()}" for name in Settings.model_fields}
    docs = by_kind(manifests(values_of(CHART / "ci" / "production-values.yaml")))
    names = set(docs["ConfigMap"][0]["data"])
    names |= {e["name"] for e in docs["Deployment"][0]["spec"]["template"]["spec"][
        "containers"][0]["env"] if e["name"].startswith("LOMAS_")}
    template = (ROOT / "infra" / "sam" / "template.yaml").read_text()
    names |= set(re.findall(r"\b(LOMAS_[A-Z_]+):", template))
    assert len(names) > 15 and names <= fields, names - fields
