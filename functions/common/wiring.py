"""Building the services' Context once per cold start (both apps use it)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from lomas.adapters.loaders.local import LocalLoader
from lomas.adapters.mongo import MongoStore
from lomas.config import Settings
from lomas.dp.tables import TableCache
from lomas.services.context import Context


def build_context(settings: Settings) -> Context:
    """The real adapters for these settings. LOMAS_MONGODB_URL must be set."""
    if not settings.mongodb_url:
        raise RuntimeError("LOMAS_MONGODB_URL is not set (the local runner starts a store)")
    store = MongoStore.connect(settings.mongodb_url, settings.mongodb_db)
    tables = TableCache(LocalLoader(settings.resolved_data_root), settings.reader_cache_size)
    return Context(settings, store, tables)


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
