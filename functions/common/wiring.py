"""Building the services' Context once per cold start (both apps use it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from lomas.adapters.mongo import MongoStore
from lomas.adapters.runners import LambdaRunner, ThreadRunner
from lomas.config import Settings
from lomas.ports import FitRunner, JobRunner, SecretStore, StateStore
from lomas.services.access import TokenCache
from lomas.services.context import Context, OidcRules
from lomas.sources.cache import HandleCache
from lomas.sources.registry import Sources
from lomas.sources.secrets import (
    AwsSecrets,
    ChainSecrets,
    EnvSecrets,
    FileSecrets,
    SecretUnreadable,
    aws_secret_string,
)


class MissingStore(RuntimeError):
    """A deployed function has no MongoDB URL (the embedded store is for local runs), or
    the store configured cannot serve this deployment (SQLite with several instances)."""


def resolve_settings(settings: Settings,
                     read_secret: Callable[[str], str] = aws_secret_string) -> Settings:
    """The settings with the MongoDB URL filled in from its secret. Raises MissingStore."""
    if settings.mongodb_url:
        return settings
    arn = settings.mongodb_url_secret_arn
    if not arn:
        raise MissingStore(
            "No MongoDB URL: set LOMAS_MONGODB_URL or LOMAS_MONGODB_URL_SECRET_ARN. The "
            "embedded store is for local runs only (lomas-serve).")
    try:
        url = mongodb_url_of(read_secret(arn))
    except SecretUnreadable as exc:
        raise MissingStore(f"The MongoDB URL secret {arn} could not be read ({exc}).") from None
    return settings.model_copy(update={"mongodb_url": url})


def mongodb_url_of(secret: str) -> str:
    """A secret holds the URL itself, or a JSON object with `mongodb_url` (or `url`)."""
    text = secret.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise SecretUnreadable("the secret is neither a URL nor a JSON object") from None
        text = str(data.get("mongodb_url") or data.get("url") or "").strip()
    if not text.startswith(("mongodb://", "mongodb+srv://")):
        raise SecretUnreadable("the secret holds no mongodb:// URL")
    return text


def build_secrets(settings: Settings) -> SecretStore:
    """Environment first, then the secrets file, then AWS Secrets Manager."""
    sources: list[SecretStore] = [EnvSecrets()]
    if settings.secrets_file:
        sources.append(FileSecrets(settings.secrets_file))
    if settings.aws_secrets_prefix is not None:
        sources.append(AwsSecrets.default(settings.aws_secrets_prefix))
    return ChainSecrets(*sources)


def build_sources(settings: Settings, secrets: SecretStore | None = None) -> Sources:
    """Every source kind of the registry, configured from the settings."""
    return Sources.from_settings(settings, secrets or build_secrets(settings))


def connect_mongodb(settings: Settings) -> MongoStore:
    """MongoDB at the settings' URL (or their secret's). Raises MissingStore,
    StoreUnavailable."""
    settings = resolve_settings(settings)
    assert settings.mongodb_url is not None
    timeout_ms = int(settings.store_timeout_seconds * 1000)
    return MongoStore.connect(settings.mongodb_url, settings.mongodb_db, timeout_ms)


def open_store(settings: Settings) -> tuple[StateStore, Callable[[], None]]:
    """The store the settings name (`Settings.store_kind`), and how to close it. SQLite is
    refused for several instances: it is one file on one disk, and a second replica
    would keep budgets of its own. Raises MissingStore, StoreUnavailable."""
    kind = settings.store_kind
    if kind == "sqlite":
        if settings.instances > 1:
            raise MissingStore(
                f"LOMAS_STORE=sqlite cannot serve {settings.instances} instances: each "
                "would keep its own budgets. Use MongoDB (LOMAS_MONGODB_URL) for several "
                "replicas, or run one.")
        from lomas.adapters.sqlite import SqliteStore

        sqlite = SqliteStore.open(settings.sqlite_path, settings.store_timeout_seconds)
        return sqlite, sqlite.close
    if kind == "mongoeco":
        from lomas.adapters.mongo.embedded import EmbeddedStore

        embedded = EmbeddedStore(settings.embedded_store_path)
        uri = embedded.start()
        mongo = connect_mongodb(settings.model_copy(update={"mongodb_url": uri}))

        def close() -> None:
            mongo.close()
            embedded.stop()

        return mongo, close
    mongo = connect_mongodb(settings)
    return mongo, mongo.close


def build_context(settings: Settings, store: StateStore | None = None,
                  sources: Sources | None = None) -> Context:
    """The real adapters for these settings. Without a store, MongoDB: the URL comes from
    the settings or their secret (the deployed functions). Raises MissingStore,
    StoreUnavailable."""
    if store is None:
        if settings.store not in (None, "mongodb"):
            raise MissingStore(
                f"LOMAS_STORE={settings.store} cannot serve a deployed function: each Lambda "
                "instance has a disk of its own, so budgets would not be shared. Set "
                "LOMAS_MONGODB_URL (or its secret) and leave LOMAS_STORE unset.")
        store = connect_mongodb(settings)
    sources = sources or build_sources(settings)
    handles = HandleCache(sources, settings.cache_max_bytes, settings.cache_revalidate_seconds)
    tokens = TokenCache(settings.auth_cache_seconds) if settings.auth_cache_seconds else None
    return Context(settings, store, sources, handles, build_runner(settings),
                   build_oidc(settings), build_fits(settings), tokens)


def build_fits(settings: Settings) -> FitRunner:
    """Fits in child processes, at most fit_concurrency at once, each under its limit."""
    from lomas.engines.isolation import IsolatedFits

    return IsolatedFits(settings.fit_timeout_seconds, settings.fit_concurrency)


def build_oidc(settings: Settings) -> OidcRules | None:
    """The OIDC rules when an issuer is configured; its keys are fetched on first use."""
    if settings.oidc_issuer is None or settings.oidc_audience is None:
        return None
    from lomas.adapters.oidc import OidcVerifier  # joserfc and cryptography: only with OIDC
    verifier = OidcVerifier(settings.oidc_issuer, settings.oidc_audience,
                            settings.oidc_algorithms, settings.oidc_leeway_seconds,
                            settings.oidc_jwks_min_refresh_seconds)
    return OidcRules(verifier, settings.oidc_user_claim, settings.oidc_admin_claim,
                     settings.oidc_admin_value, settings.oidc_auto_provision)


def build_runner(settings: Settings) -> JobRunner:
    if settings.job_runner == "lambda":
        return LambdaRunner(settings.job_function_name)
    return ThreadRunner(settings.job_workers, settings.fit_concurrency)


class ContextHolder:
    """Builds the Context on first use; a runner or a test may install its own."""

    def __init__(self, factory: Callable[[], Context]) -> None:
        self._factory = factory
        self._context: Context | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Context:
        if self._context is None:
            with self._lock:
                if self._context is None:
                    self._context = self._factory()
        return self._context

    def install(self, context: Context) -> None:
        self._context = context


def from_environment() -> Context:
    return build_context(Settings())
