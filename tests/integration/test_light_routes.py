"""Light routes start light: /health, metadata, budgets, past queries and dummy data load
neither snsql, OpenDP, polars nor scikit-learn (they load with the first query)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.infra.conftest import ROOT

SCRIPT = r'''
import json, sys, tempfile
from pathlib import Path
from lomas.domain import PrivacyCost
from lomas.testing.fakes import InMemoryStore
from tests.conftest import make_world
from functions.common.gateway import build_gateway

world = make_world(InMemoryStore(), Path(tempfile.mkdtemp()), PrivacyCost(1.0, 1e-5))
gateway = build_gateway(world.ctx, "query", "admin")
auth = {"authorization": "Bearer " + world.token, "content-type": "application/json"}
body = json.dumps({"dataset_name": "income"}).encode()
statuses = [gateway.handle("GET", "/health", {}, b"").status]
for path in ("/get_dataset_metadata", "/get_initial_budget", "/get_remaining_budget",
             "/get_total_spent_budget", "/get_previous_queries", "/get_dummy_dataset"):
    statuses.append(gateway.handle("POST", path, auth, body).status)
heavy = [m for m in ("snsql", "opendp", "polars", "sklearn", "sqlalchemy", "duckdb")
         if m in sys.modules]
before = heavy[:]
sql = json.dumps({"dataset_name": "income", "query_str": "SELECT COUNT(*) AS n FROM income",
                  "epsilon": 1.0, "delta": 1e-5}).encode()
statuses.append(gateway.handle("POST", "/estimate_smartnoise_sql_cost", auth, sql).status)
print(json.dumps({"statuses": statuses, "heavy": before, "after": "snsql" in sys.modules}))
'''


def test_light_routes_do_not_load_the_dp_libraries() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["statuses"] == [200] * 8
    assert outcome["heavy"] == []
    assert outcome["after"] is True  # the first SQL route loads snsql


HANDLER_IMPORTS = r'''
import json, sys
import functions.common.lambda_events
from functions.common.apps import load_app
load_app("query"); load_app("admin")
print(json.dumps(sorted(m for m in sys.argv[1:] if m in sys.modules)))
'''
NOT_AT_START = ["boto3", "botocore", "joserfc", "cryptography", "requests", "pandas", "numpy",
                "pyarrow", "duckdb", "snsql", "opendp", "polars", "sklearn"]


def test_the_handlers_import_neither_data_nor_cloud_nor_token_libraries() -> None:
    """What the function modules import before their first request: no pandas, no AWS SDK
    (S3 and Secrets Manager load with their first use), no JWT library (only with OIDC)."""
    run = subprocess.run([sys.executable, "-c", HANDLER_IMPORTS, *NOT_AT_START], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
