"""The DP engines, one folder each, found through the contract's registry.

`lomas_contract.engines.ENGINES` names every engine; `lomas.engines.<name>` exports
its `ENGINE` (an `Engine`). A folder imports its DP library only when a request
needs it: a function starts without snsql or OpenDP.
"""

from __future__ import annotations

from importlib import import_module
from typing import cast

from lomas.engines.base import Engine, Fit, Prepared
from lomas_contract.engines import ENGINES as SPECS


def _engine(name: str) -> Engine:
    engine = cast(Engine, import_module(f"{__name__}.{name}").ENGINE)
    assert engine.spec is SPECS[name], f"lomas.engines.{name} serves another spec"
    return engine


ENGINES: dict[str, Engine] = {name: _engine(name) for name in SPECS}
"""Every engine, by name, in the contract's order."""

__all__ = ["ENGINES", "Engine", "Fit", "Prepared"]
