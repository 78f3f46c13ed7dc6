"""Loading both Chalice projects into one process.

Each project has its own top-level `chalicelib` package (Chalice requires the
name), so they are imported one after the other with their own sys.path entry;
each app keeps references to its own chalicelib modules.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FUNCTIONS = Path(__file__).resolve().parent.parent
APPS = ("query", "admin")


def _forget_chalicelib() -> None:
    for name in [m for m in sys.modules if m == "chalicelib" or m.startswith("chalicelib.")]:
        del sys.modules[name]


def load_app(name: str) -> ModuleType:
    """Import functions/<name>/app.py as module `lomas_<name>_app`."""
    module_name = f"lomas_{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    project = FUNCTIONS / name
    spec = importlib.util.spec_from_file_location(module_name, project / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    _forget_chalicelib()
    sys.path.insert(0, str(project))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(project))
        _forget_chalicelib()
    sys.modules[module_name] = module
    return module
