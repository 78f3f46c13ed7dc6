"""Counting a store's round trips: the tests assert them and `make bench` reports them.

SQLite: every call into the store is one transaction (`Counting` counts calls).
MongoDB: every command on the wire (`Commands`, a pymongo command listener).
"""

from __future__ import annotations

import threading
from typing import Any

from pymongo import MongoClient, monitoring

from lomas.adapters.mongo import MongoStore


class Counting:
    """A StateStore that counts the calls made into it (each one transaction)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return found(*args, **kwargs)

        return counted


class Commands(monitoring.CommandListener):
    """The commands a MongoClient sends (but its sessions' ends), in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name != "endSessions":
            with self._lock:
                self.calls.append(f"{event.command_name} {event.command.get(event.command_name)}")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...

    def failed(self, event: monitoring.CommandFailedEvent) -> None: ...


def counted_mongo(uri: str, db: str) -> tuple[MongoStore, Commands]:
    """A MongoStore on database `db` whose client reports its commands to the listener
    returned with it (`store.close()` closes the client)."""
    commands = Commands()
    client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True,
                                                      event_listeners=[commands])
    return MongoStore(client, db), commands


def count_trips(counter: Counting | Commands, action: Any) -> list[str]:
    """The round trips of `action`'s third run: the first checks the query's shape on dummy
    data (and imports), the second looks the token up; from the third on, a burst's own."""
    action()
    action()
    del counter.calls[:]
    action()
    return list(counter.calls)
