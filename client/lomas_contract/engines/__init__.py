"""The engines' registry: every route, client namespace, job and archive derives from it.

Adding an engine: a module here with its request models, its result and its `SPEC`,
one entry in `ENGINES`, and its implementation in `lomas.engines.<name>` (see
docs/architecture.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from lomas_contract.base import EngineResult, EngineSpec
from lomas_contract.engines import diffprivlib, opendp, smartnoise_sql, smartnoise_synth

ENGINES: dict[str, EngineSpec] = {spec.name: spec for spec in (
    smartnoise_sql.SPEC,
    opendp.SPEC,
    smartnoise_synth.SPEC,
    diffprivlib.SPEC,
)}

if TYPE_CHECKING:
    QueryResult = EngineResult
else:  # the union of every engine's result, told apart by `type`
    QueryResult = Annotated[Union[tuple(s.result for s in ENGINES.values())],  # noqa: UP007
                            Field(discriminator="type")]


def spec(name: str) -> EngineSpec:
    """The engine of that name. Raises KeyError for an unknown one."""
    return ENGINES[name]
