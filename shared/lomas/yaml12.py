"""YAML as its 1.2 core schema reads it: only true and false are booleans.

PyYAML follows YAML 1.1, where yes, no, on, off, y and n are booleans too: a metadata
file's `categories: [yes, no]` on a string column came out as [True, False], then as
[1, 0], without a word. Here they stay the strings they look like.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def load(text: str | bytes) -> Any:
    """One YAML document (1.2 booleans). Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader, its tags only


def where(exc: yaml.YAMLError) -> str:
    """" at line N" for an error the parser placed, else "": for a one-line message."""
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}" if mark is not None else ""
