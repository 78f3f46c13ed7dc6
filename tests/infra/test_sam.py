"""The SAM template: lint, the translated template's functions, IAM and routes, sam build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chalice import Chalice

from functions.common.apps import load_app
from tests.conftest import World
from tests.infra.conftest import ROOT, lambda_env
from tests.support.apigw import event
from tests.support.browser import built_dashboard
from tests.support.cfn import evaluate

SAM_DIR = ROOT / "infra" / "sam"
TEMPLATE = SAM_DIR / "template.yaml"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
WHEELS = ROOT / ".venv" / "lambda-wheels"
PARAMS = {"Stage": "prod", "SecretsPrefix": "lomas/", "MongoDbUrlSecretName": "mongodb-url",
          "DatasetBucketNames": ["nso-data", "nso-extra"]}


def sam(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    assert SAM.exists(), "the SAM CLI venv is missing: `make test` installs it"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", **kwargs.pop("env", {})}
    return subprocess.run([str(SAM), *args], cwd=SAM_DIR, env=env, capture_output=True,
                          text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    """The template as CloudFormation receives it after the SAM transform."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(TEMPLATE.read_text())
    # `sam build` and `sam package` fill these in; the translator needs them set.
    template["Resources"]["QueryFunction"]["Properties"]["ImageUri"] = "registry/lomas:query"
    template["Resources"]["FitFunction"]["Properties"]["ImageUri"] = "registry/lomas:fit"
    template["Resources"]["AdminFunction"]["Properties"]["CodeUri"] = "s3://bucket/admin.zip"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-2")
    return transform(template, {}, NoManagedPolicies())


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_sam_validate_lint() -> None:
    run = sam("validate", "--lint", "--template", str(TEMPLATE))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "is a valid SAM Template" in run.stdout + run.stderr


def test_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    run = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def test_query_function_is_the_image_and_admin_a_zip(translated: dict[str, Any]) -> None:
    functions = resources(translated, "AWS::Lambda::Function")
    assert set(functions) == {"QueryFunction", "AdminFunction", "FitFunction"}
    query, admin = functions["QueryFunction"], functions["AdminFunction"]
    fit = functions["FitFunction"]
    assert fit["Properties"]["PackageType"] == "Image"
    assert fit["Metadata"]["DockerBuildTarget"] == "lambda-ml"
    assert fit["Properties"]["ImageConfig"]["Command"] == ["functions.query.handler.handler"]
    fit_env = fit["Properties"]["Environment"]["Variables"]
    assert float(fit_env["LOMAS_FIT_TIMEOUT_SECONDS"]) < fit["Properties"]["Timeout"]
    assert query["Properties"]["PackageType"] == "Image"
    assert query["Properties"]["ImageConfig"]["Command"] == ["functions.query.handler.handler"]
    assert query["Metadata"]["DockerBuildTarget"] == "lambda"
    assert admin["Properties"]["Runtime"] == "python3.13"
    assert admin["Properties"]["Handler"] == "functions.admin.handler.handler"
    assert "S3Key" in admin["Properties"]["Code"]
    assert admin["Metadata"]["BuildMethod"] == "makefile"
    for function in functions.values():
        env = evaluate(function["Properties"]["Environment"]["Variables"], PARAMS)
        assert env["LOMAS_MONGODB_URL_SECRET_ARN"] == "lomas/mongodb-url"
        assert env["LOMAS_AWS_SECRETS_PREFIX"] == "lomas/"
        assert env["LOMAS_STATE_DIR"].startswith("/tmp/")
        assert "LOMAS_MONGODB_URL" not in env and "LOMAS_DEV_MODE" not in env


def test_iam_is_least_privilege(translated: dict[str, Any]) -> None:
    roles = resources(translated, "AWS::IAM::Role")
    assert set(roles) == {"QueryFunctionRole", "AdminFunctionRole", "FitFunctionRole"}
    for name, role in roles.items():
        props = role["Properties"]
        assert "ManagedPolicyArns" not in props  # not even AWSLambdaBasicExecutionRole (logs:*)
        (policy,) = props["Policies"]
        grants = {}
        for statement in evaluate(policy["PolicyDocument"]["Statement"], PARAMS):
            assert statement["Effect"] == "Allow" and "Condition" not in statement
            actions = statement["Action"]
            resource = statement["Resource"]
            grants[tuple(actions) if isinstance(actions, list) else (actions,)] = resource
        group = f"<{name.removesuffix('FunctionRole')}LogGroup.Arn>"
        assert grants == {
            ("logs:CreateLogStream", "logs:PutLogEvents"): group,
            ("s3:GetObject",): ["arn:aws:s3:::nso-data/*", "arn:aws:s3:::nso-extra/*"],
            ("secretsmanager:GetSecretValue",):
                "arn:aws:secretsmanager:eu-central-2:123456789012:secret:lomas/*",
        }


@pytest.mark.parametrize("function", ["QueryFunction", "FitFunction"])
def test_the_query_and_fit_functions_may_invoke_themselves_for_jobs_and_nothing_more(
        translated: dict[str, Any], function: str) -> None:
    policies = resources(translated, "AWS::IAM::Policy")
    assert sorted(policies) == ["FitFunctionRunsJobs", "QueryFunctionRunsJobs"]
    props = policies[f"{function}RunsJobs"]["Properties"]
    assert evaluate(props["Roles"], PARAMS) == [f"<{function}Role>"]
    (statement,) = evaluate(props["PolicyDocument"]["Statement"], PARAMS)
    assert statement == {"Sid": "RunJobsInThisFunction", "Effect": "Allow",
                         "Action": "lambda:InvokeFunction", "Resource": f"<{function}.Arn>"}
    functions = resources(translated, "AWS::Lambda::Function")
    env = functions[function]["Properties"]["Environment"]["Variables"]
    assert env["LOMAS_JOB_RUNNER"] == "lambda"
    assert "LOMAS_JOB_RUNNER" not in functions["AdminFunction"]["Properties"]["Environment"][
        "Variables"]
    timeout = translated["Parameters"]["QueryTimeout"]
    event_age = 60
    assert float(env["LOMAS_CLAIM_LEASE_SECONDS"]) > timeout["MaxValue"] + event_age
    configs = {evaluate(c["Properties"]["FunctionName"], PARAMS): c
               for c in resources(translated, "AWS::Lambda::EventInvokeConfig").values()}
    assert set(configs) == {"<QueryFunction>", "<FitFunction>"}
    config = configs[f"<{function}>"]
    assert config["Properties"]["MaximumRetryAttempts"] == 0
    assert config["Properties"]["MaximumEventAgeInSeconds"] == event_age


@pytest.mark.parametrize("jwt", [False, True])
def test_the_jwt_authorizer_is_a_parameter(translated: dict[str, Any], jwt: bool) -> None:
    params = {**PARAMS, "OidcIssuer": "https://cognito-idp.eu-central-2.amazonaws.com/pool",
              "OidcAudience": "client-id", "ApiJwtAuthorizer": str(jwt).lower()}
    conditions = {"UseJwtAuthorizer": jwt}
    (authorizer,) = resources(translated, "AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Condition"] == "UseJwtAuthorizer"
    assert evaluate(authorizer["Properties"], params) == {
        "ApiId": "<LomasApi>", "Name": "oidc", "AuthorizerType": "JWT",
        "IdentitySource": ["$request.header.Authorization"],
        "JwtConfiguration": {"Issuer": params["OidcIssuer"], "Audience": ["client-id"]}}
    auth = {}
    for route in resources(translated, "AWS::ApiGatewayV2::Route").values():
        props = evaluate(route["Properties"], params, conditions)
        auth[props["RouteKey"]] = (props["AuthorizationType"], props.get("AuthorizerId"))
    guarded = ("JWT", "<OidcAuthorizer>") if jwt else ("NONE", None)
    fits = {f"POST {route}": guarded for route in FIT_ROUTES}
    assert auth == {"$default": guarded, "ANY /admin/{proxy+}": guarded,
                    "POST /admin/datasets/{dataset_name}/check": guarded,
                    "GET /health": ("NONE", None), "GET /openapi.json": ("NONE", None),
                    # the dashboard's page loads without a token, then sends the admin's
                    "GET /admin/ui": ("NONE", None), "GET /admin/ui/{file}": ("NONE", None),
                    **fits}
    for function in resources(translated, "AWS::Lambda::Function").values():
        env = evaluate(function["Properties"]["Environment"]["Variables"], params)
        assert env["LOMAS_OIDC_ISSUER"] == params["OidcIssuer"]  # the functions verify too
        assert env["LOMAS_OIDC_AUDIENCE"] == "client-id"


def test_the_api_may_invoke_each_function(translated: dict[str, Any]) -> None:
    permissions = resources(translated, "AWS::Lambda::Permission").values()
    invoked = {evaluate(p["Properties"]["FunctionName"], PARAMS): p for p in permissions}
    assert set(invoked) == {"<QueryFunction>", "<AdminFunction>", "<FitFunction>"}
    for permission in invoked.values():
        assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
        source = evaluate(permission["Properties"]["SourceArn"], PARAMS)
        assert source.startswith("arn:aws:execute-api:eu-central-2:123456789012:<LomasApi>/")


FIT_ROUTES = [route for name in ("smartnoise_synth", "diffprivlib")
              for route in (f"/estimate_{name}_cost", f"/{name}_query", f"/dummy_{name}_query")]
"""The engines whose fits need the ml image: served by the fit function."""


def _api_routes(template: dict[str, Any],
                conditions: dict[str, bool] | None = None) -> list[tuple[str, str, str]]:
    """(path, method, function) of each HTTP API route; method "ANY", path "$default"."""
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    routes = []
    for route in resources(template, "AWS::ApiGatewayV2::Route").values():
        props = evaluate(route["Properties"], PARAMS, conditions or {"UseJwtAuthorizer": False})
        assert props["ApiId"] == "<LomasApi>"
        integration = integrations[props["Target"].removeprefix("integrations/<").rstrip(">")]
        function = integration["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]
        method, _, path = props["RouteKey"].rpartition(" ")
        routes.append((path, method or "ANY", function))
    return routes


def _same(route: list[str], path: list[str]) -> bool:
    return all(a == b or a.startswith("{") for a, b in zip(route, path, strict=True))


def _matches(route: str, path: str) -> bool:
    if route == "$default":
        return True
    r, p = route.strip("/").split("/"), path.strip("/").split("/")
    if r[-1].endswith("+}"):  # greedy: the fixed head, then one or more segments
        return len(p) > len(r) - 1 and _same(r[:-1], p[:len(r) - 1])
    return len(r) == len(p) and _same(r, p)


def _specificity(route: str, method: str) -> tuple[int, int, int]:
    """HTTP API's order: $default last, greedy paths after others, fixed segments first."""
    if route == "$default":
        return (0, 0, 0)
    parts = route.strip("/").split("/")
    greedy = parts[-1].endswith("+}")
    fixed = sum(not p.startswith("{") for p in parts)
    return (1 if greedy else 2, fixed, method != "ANY")


def route_target(routes: list[tuple[str, str, str]], path: str, method: str) -> str:
    candidates = [(r, m, f) for r, m, f in routes if m in ("ANY", method) and _matches(r, path)]
    return max(candidates, key=lambda c: _specificity(c[0], c[1]))[2]


def app_routes(app: Chalice) -> list[tuple[str, str]]:
    return [(path, method) for path, entries in app.routes.items() for method in entries]


def test_every_route_of_both_apps_reaches_its_function(translated: dict[str, Any]) -> None:
    routes = _api_routes(translated)
    query_app, admin_app = load_app("query").app, load_app("admin").app
    # The query function's image serves the query app and the admin app (for the routes
    # that load data); the admin zip serves the admin app only.
    serves = {"QueryFunction": app_routes(query_app) + app_routes(admin_app),
              "AdminFunction": app_routes(admin_app), "FitFunction": app_routes(query_app)}
    checked = 0
    for app in (query_app, admin_app):
        for path, method in app_routes(app):
            target = route_target(routes, path, method)
            assert (path, method) in serves[target], (path, method, target)
            heavy = path == "/admin/datasets/{dataset_name}/check"
            expected = "QueryFunction" if app is query_app or heavy else "AdminFunction"
            if path in FIT_ROUTES:
                expected = "FitFunction"
            assert target == expected, (path, method, target)
            checked += 1
    assert checked == len(app_routes(query_app)) + len(app_routes(admin_app)) > 25


@pytest.mark.slow
def test_sam_build_admin_function_answers_an_event(tmp_path: Path, mongo_world: World,
                                                  embedded_uri: str) -> None:
    assert WHEELS.exists(), "the Lambda wheels are missing: `make test` downloads them"
    built_dashboard()  # the admin zip carries it: its build refuses without
    build = tmp_path / "build"
    run = sam("build", "AdminFunction", "--template", str(TEMPLATE), "--build-dir", str(build),
              env={"LAMBDA_PIP_ARGS": f"--no-index --find-links {WHEELS}",
                   "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert run.returncode == 0, run.stdout + run.stderr
    package = build / "AdminFunction"
    assert (package / "functions" / "admin" / "handler.py").exists()
    assert (package / "functions" / "admin" / "chalicelib" / "ui" / "index.html").exists()
    for heavy in ("pandas", "numpy", "pyarrow", "snsql", "opendp", "polars"):
        assert not (package / heavy).exists(), heavy
    size = sum(f.stat().st_size for f in package.rglob("*") if f.is_file())
    # pymongo, boto3, pydantic, joserfc and psycopg (~10 MB of libpq, to check PostgreSQL
    # tables when they are registered): well under Lambda's 250 MB unzipped
    assert size < 100 * 2**20, f"{size / 2**20:.0f} MB"

    request = event("http", "POST", "/admin/users", {"user_name": "built"},
                    mongo_world.admin_token)
    # -I -S: only the standard library and the package, as on Lambda's python3.13 runtime.
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); "
            "import functions.admin.handler as h; "
            "print(json.dumps(h.handler(json.loads(sys.argv[2]), None)))")
    env = {**os.environ, **lambda_env(mongo_world, embedded_uri)}
    answer = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(package),
                             json.dumps(request)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert answer.returncode == 0, answer.stderr
    response = json.loads(answer.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 201, response
    assert json.loads(response["body"])["user_name"] == "built"
    assert mongo_world.store.get_user("built") is not None
