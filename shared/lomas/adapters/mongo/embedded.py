"""The embedded state store: mongoeco's MongoDB wire server on loopback.

It keeps its data in one SQLite file, so users, budgets and archives survive a
restart; the application talks to it with pymongo exactly as to MongoDB.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def _close_what_it_left_open(server: object) -> None:
    """mongoeco 4.11: when a write is still in flight as its engine disconnects, compacting
    its change outbox finds the file locked by that write and raises before it closes its
    SQLite connections, so the open one keeps the write lock and no engine can open the
    file again (seen under load). Close them: that write is rolled back, as a close does."""
    engine = getattr(getattr(server, "_client", None), "_engine", None)
    for name in ("_connection", "_change_delivery_connection"):
        connection = getattr(engine, name, None)
        if connection is not None:
            setattr(engine, name, None)
            try:
                connection.close()
            except Exception as exc:  # noqa: BLE001 - best effort, said
                log.warning("the embedded store's %s did not close: %s", name, exc)


class EmbeddedStore:
    """A mongoeco wire server running on its own event loop in a thread."""

    def __init__(self, path: Path | str, host: str = "127.0.0.1", port: int = 0) -> None:
        self._path = str(path)
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: object | None = None
        self.uri = ""

    def start(self, timeout: float = 30.0) -> str:
        """Start serving; returns the mongodb:// URI to give pymongo."""
        from mongoeco.engines import SQLiteEngine
        from mongoeco.wire import AsyncMongoEcoProxyServer

        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        server = AsyncMongoEcoProxyServer(
            engine=SQLiteEngine(self._path), host=self._host, port=self._port
        )
        self._thread.start()
        address = asyncio.run_coroutine_threadsafe(server.start(), self._loop).result(timeout)
        self._server = server
        self.uri = address.uri
        log.info("embedded state store on %s:%s", address.host, address.port)
        return self.uri

    def stop(self, timeout: float = 10.0) -> None:
        server = self._server
        if server is not None:
            self._server = None
            close = server.close()  # type: ignore[attr-defined]
            try:
                asyncio.run_coroutine_threadsafe(close, self._loop).result(timeout)
            except Exception as exc:  # noqa: BLE001 - stopping goes on
                # mongoeco closes its listener and its clients first; its engine's last
                # write can then find its own SQLite file locked by one still in flight
                # (seen under load). The server is stopped all the same.
                log.warning("the embedded store stopped, its engine not cleanly: %s", exc)
                _close_what_it_left_open(server)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> EmbeddedStore:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
