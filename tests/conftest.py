"""Fixtures: stores (fake, embedded mongoeco, real MongoDB), contexts, apps, servers."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from chalice.test import Client as ChaliceClient

from functions.common.apps import load_app
from functions.common.wiring import build_context, build_secrets, build_sources
from functions.container.serve import create_wsgi, make_server
from lomas import demo
from lomas.adapters.mongo import MongoStore
from lomas.adapters.mongo.embedded import EmbeddedStore
from lomas.adapters.sqlite import SqliteStore
from lomas.config import Settings
from lomas.domain import PrivacyCost, User
from lomas.ports import StateStore
from lomas.services.context import Context
from lomas.services.tokens import hash_token, new_token
from lomas.sources.registry import Sources
from lomas.sources.secrets import ChainSecrets, EnvSecrets
from lomas.testing.fakes import InMemoryStore
from tests.support.data import write_income
from tests.support.postgres import PgDatabase
from tests.support.services import unavailable

MONGODB_URL = os.environ.get("LOMAS_TEST_MONGODB_URL")
BUCKET = "lomas-data"

# Tests never reach AWS: fake credentials, no instance metadata lookups.
_FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
os.environ.update(_FAKE_AWS)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's S3 server on loopback, addressed by endpoint URL like LocalStack or MinIO."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_url(moto_server: str) -> str:
    """The server with a bucket of income data (moto's in-process mocks reset its state)."""
    import boto3

    from tests.support.sources import csv_bytes, parquet_bytes

    url = moto_server
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    frame, metadata = demo.income_frame(300, seed=3), demo.income_metadata(300)
    s3.put_object(Bucket=BUCKET, Key="income.csv", Body=csv_bytes(frame))
    s3.put_object(Bucket=BUCKET, Key="income.parquet", Body=parquet_bytes(frame))
    s3.put_object(Bucket=BUCKET, Key="income.yaml",
                  Body=metadata.model_dump_json(exclude_none=True).encode())
    return url


@pytest.fixture(scope="session")
def pg_db() -> Iterator[PgDatabase]:
    """A schema on the real PostgreSQL server, with a role that may only read its tables."""
    from tests.support.postgres import database, require_server

    with database(require_server()) as db:
        yield db


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One local SparkSession (local[2]) for the whole test session: its JVM takes 8-13 s
    to start. In CI (CI=true) a missing pyspark or Java fails; elsewhere it skips."""
    import importlib.util
    import shutil

    why = ("pyspark is not installed (make test installs the spark extra)"
           if importlib.util.find_spec("pyspark") is None else
           "no Java runtime on PATH (Spark needs Java 17)" if shutil.which("java") is None
           else None)
    if why:
        unavailable(why)
    from lomas.sources.spark.session import start

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = start("local[2]", {
        "spark.sql.warehouse.dir": str(warehouse), "spark.sql.shuffle.partitions": "4",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse}"})
    yield session
    session.stop()


@pytest.fixture(scope="session")
def embedded_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = EmbeddedStore(tmp_path_factory.mktemp("store") / "store.sqlite")
    yield store.start()
    store.stop()


def _mongo(url: str) -> Iterator[MongoStore]:
    db = f"lomas_test_{uuid.uuid4().hex[:12]}"
    store = MongoStore.connect(url, db)
    yield store
    store._client.drop_database(db)
    store.close()


@pytest.fixture(params=["memory", "sqlite", "mongoeco",
                        pytest.param("mongodb", marks=pytest.mark.mongodb)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Every StateStore implementation, for the contract suite."""
    if request.param == "memory":
        yield InMemoryStore()
    elif request.param == "sqlite":
        store = SqliteStore.open(tmp_path / "state" / "lomas.sqlite3")
        yield store
        store.close()
    elif request.param == "mongoeco":
        yield from _mongo(request.getfixturevalue("embedded_uri"))
    else:
        if not MONGODB_URL:
            pytest.skip("LOMAS_TEST_MONGODB_URL is not set")
        yield from _mongo(MONGODB_URL)


@pytest.fixture
def mongo_store(embedded_uri: str) -> Iterator[MongoStore]:
    yield from _mongo(embedded_uri)


@dataclass
class World:
    """A context with an admin, a researcher granted on `income`, and their tokens."""

    ctx: Context
    admin_token: str
    token: str
    sources: Sources

    @property
    def store(self) -> StateStore:
        return self.ctx.store


def make_world(store: StateStore, root: Path, budget: PrivacyCost,
               secrets: dict[str, dict[str, str]] | None = None, **settings: object) -> World:
    """`secrets`: named secrets the sources see (besides the environment's)."""
    data = root / "data"
    dataset = write_income(data)
    store.create_dataset(dataset)
    admin_token, token = new_token(), new_token()
    store.create_user(User("admin", is_admin=True), hash_token(admin_token))
    store.create_user(User("alice"), hash_token(token))
    store.put_grant("alice", "income", budget)
    cfg = Settings(state_dir=root, data_root=data, mongodb_url="unused", **settings)  # type: ignore[arg-type]
    named = ChainSecrets(EnvSecrets({f"LOMAS_SECRET_{k.upper()}": json.dumps(v)
                                     for k, v in (secrets or {}).items()}), build_secrets(cfg))
    ctx = build_context(cfg, store=store, sources=build_sources(cfg, named))  # type: ignore[arg-type]
    return World(ctx, admin_token, token, ctx.sources)  # type: ignore[arg-type]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(InMemoryStore(), tmp_path, PrivacyCost(10.0, 1e-3), max_body_bytes=20_000)


@pytest.fixture
def mongo_world(tmp_path: Path, mongo_store: MongoStore) -> World:
    return make_world(mongo_store, tmp_path, PrivacyCost(10.0, 1e-3))


def _install(ctx: Context) -> tuple[object, object]:
    query, admin = load_app("query"), load_app("admin")
    query.deps.install(ctx)
    admin.deps.install(ctx)
    return query.app, admin.app


@pytest.fixture
def query_client(world: World) -> Iterator[ChaliceClient]:
    app, _ = _install(world.ctx)
    with ChaliceClient(app) as client:
        yield client


@pytest.fixture
def admin_client(world: World) -> Iterator[ChaliceClient]:
    _, app = _install(world.ctx)
    with ChaliceClient(app) as client:
        yield client


@dataclass
class LiveServer:
    url: str
    world: World


def serve(world: World, wrap=lambda app: app) -> Iterator[LiveServer]:
    """Both apps behind waitress on a free loopback port, in a thread."""
    server = make_server(wrap(create_wsgi(world.ctx)), world.ctx.settings, host="127.0.0.1",
                         port=0, threads=8)
    def run() -> None:
        with contextlib.suppress(OSError):  # closing the server under its select loop
            server.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.effective_port}", world)
    server.close()
    thread.join(1)  # idle keep-alive connections may hold the loop; the thread is a daemon


@pytest.fixture
def live_server(mongo_world: World) -> Iterator[LiveServer]:
    yield from serve(mongo_world)
