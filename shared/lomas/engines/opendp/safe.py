"""Rebuilding an OpenDP Measurement from JSON without trusting the JSON.

`opendp.deserialize` imports any `opendp.<module>` named in the payload and
calls any attribute of it: measured to import arbitrary installed modules and
to make outbound requests. This module never calls it. It walks the parsed
JSON first and calls only public OpenDP constructors from a fixed table of
modules, with literal arguments (numbers, strings, booleans, null, lists,
string-keyed objects, tuples) or other such constructor calls. Everything else
(private names, other modules, polars plans or expressions, user-defined
functions, interactive compositors) is refused before anything is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import opendp.combinators
import opendp.core
import opendp.domains
import opendp.measurements
import opendp.measures
import opendp.metrics
import opendp.transformations
from opendp.mod import OpenDPException
from opendp.mod import __version__ as OPENDP_VERSION

from lomas.errors import InvalidQuery

MAX_DEPTH = 200
MAX_NODES = 20_000

_MODULES: dict[str, Any] = {
    "transformations": opendp.transformations,
    "measurements": opendp.measurements,
    "combinators": opendp.combinators,
    "domains": opendp.domains,
    "metrics": opendp.metrics,
    "measures": opendp.measures,
    "core": opendp.core,
}
_CONSTRUCTOR_MODULES = {"transformations", "measurements", "combinators"}
_CORE = {"transformation_output_domain", "transformation_output_metric",
         "measurement_input_domain", "measurement_input_metric",
         "transformation_input_domain", "transformation_input_metric"}
_DENIED = (
    "user",  # make_user_transformation, user_domain, user_distance, ...: Python callables
    "private_lazyframe", "private_expr", "lazyframe", "expr", "series",  # polars plans
    "sequential", "adaptive", "odometer", "queryable",  # interactive, stateful
    "privacy_profile", "postprocess", "load", "pickle", "file", "http", "import",
)
_FLAGS = {"__function__", "__module__", "__kwargs__", "__version__"}


def _constructor(module: Any, name: Any) -> Callable[..., Any]:
    if not isinstance(module, str) or not isinstance(name, str):
        raise InvalidQuery("OpenDP pipeline: a constructor's module and name must be strings.")
    if module not in _MODULES:
        raise InvalidQuery(f"OpenDP pipeline: module {module!r} is not allowed.")
    if name.startswith("_") or not name.isidentifier():
        raise InvalidQuery(f"OpenDP pipeline: {module}.{name} is not allowed.")
    if module == "core":
        allowed = name in _CORE
    elif module in _CONSTRUCTOR_MODULES:
        allowed = name.startswith(("make_", "then_"))
    else:
        allowed = True
    if not allowed or any(word in name for word in _DENIED):
        raise InvalidQuery(f"OpenDP pipeline: {module}.{name} is not allowed.")
    function = vars(_MODULES[module]).get(name)
    if not callable(function) or getattr(function, "__module__", "") != f"opendp.{module}":
        raise InvalidQuery(f"OpenDP pipeline: {module}.{name} is not an OpenDP constructor.")
    return function


class _Builder:
    def __init__(self) -> None:
        self.nodes = 0

    def build(self, node: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise InvalidQuery("OpenDP pipeline: too deeply nested or too large.")
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, list):
            return [self.build(v, depth + 1) for v in node]
        if not isinstance(node, dict):
            raise InvalidQuery("OpenDP pipeline: unexpected value.")
        if "__function__" in node:
            return self._call(node, depth)
        if set(node) == {"__tuple__"} and isinstance(node["__tuple__"], list):
            return tuple(self.build(v, depth + 1) for v in node["__tuple__"])
        if any(key.startswith("__") for key in node):
            raise InvalidQuery("OpenDP pipeline: only constructors and literals are accepted "
                               "(no polars plans, expressions or margins here).")
        return {key: self.build(value, depth + 1) for key, value in node.items()}

    def _call(self, node: dict[str, Any], depth: int) -> Any:
        if not set(node) <= _FLAGS:
            raise InvalidQuery("OpenDP pipeline: unexpected keys in a constructor.")
        version = node.get("__version__", OPENDP_VERSION)
        if version != OPENDP_VERSION:
            raise InvalidQuery(f"OpenDP pipeline: made with OpenDP {str(version)[:20]}; this "
                               f"server runs {OPENDP_VERSION}: use that version.")
        function = _constructor(node.get("__module__"), node["__function__"])
        kwargs = node.get("__kwargs__", {})
        if not isinstance(kwargs, dict) or not all(k.isidentifier() for k in kwargs):
            raise InvalidQuery("OpenDP pipeline: constructor arguments must be named.")
        built = {key: self.build(value, depth + 1) for key, value in kwargs.items()}
        try:
            return function(**built)
        except (OpenDPException, TypeError, ValueError) as exc:
            message = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else ""
            raise InvalidQuery(f"OpenDP pipeline: {node['__function__']} refused its "
                               f"arguments: {message}") from exc


def rebuild(tree: Any) -> Any:
    """The OpenDP object the tree describes, built only from allowlisted constructors."""
    return _Builder().build(tree)
