"""Every port method MongoStore defines turns a driver error into StoreUnavailable (a 503
with Retry-After), never a 500: each wears `_translated`."""

from __future__ import annotations

import inspect

from lomas.adapters.mongo import MongoStore
from lomas.ports import StateStore

NOTHING_TO_TRANSLATE = {"sync"}
"""A no-op on MongoDB (its writes are durable when acknowledged)."""


def test_every_store_method_of_mongostore_translates_driver_errors() -> None:
    port = {name for name in dir(StateStore) if not name.startswith("_")}
    own = {name: fn for name, fn in vars(MongoStore).items()
           if name in port and inspect.isfunction(fn)}
    assert len(own) > 30
    bare = sorted(name for name, fn in own.items() if not hasattr(fn, "__wrapped__"))
    assert bare == sorted(NOTHING_TO_TRANSLATE)
