"""Reading a CloudFormation template the way the service would, for assertions.

`evaluate` resolves the few intrinsic functions our template uses (Ref, Sub,
Join, Split, GetAtt) for given parameter values, so a test can assert what an
IAM statement grants rather than how it is spelled.
"""

from __future__ import annotations

import re
from typing import Any

PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-central-2", "AWS::AccountId": "123456789012",
          "AWS::StackName": "lomas", "AWS::URLSuffix": "amazonaws.com"}


NO_VALUE = object()
"""AWS::NoValue: the property is left out."""


def evaluate(node: Any, params: dict[str, Any],
             conditions: dict[str, bool] | None = None) -> Any:
    """The value of `node`; a resource's Ref or GetAtt becomes "<Name>" or "<Name.Attr>".
    Fn::If is decided by `conditions` (name -> value)."""
    if isinstance(node, list):
        items = [evaluate(item, params, conditions) for item in node]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) != 1 or not next(iter(node)).startswith(("Ref", "Fn::")):
        pairs = {k: evaluate(v, params, conditions) for k, v in node.items()}
        return {k: v for k, v in pairs.items() if v is not NO_VALUE}
    (fn, arg), = node.items()
    if fn == "Fn::If":
        name, yes, no = arg
        if conditions is None or name not in conditions:
            raise KeyError(f"condition {name} is not decided")
        return evaluate(yes if conditions[name] else no, params, conditions)
    if fn == "Ref":
        if arg == "AWS::NoValue":
            return NO_VALUE
        return params.get(arg, PSEUDO.get(arg, f"<{arg}>"))
    if fn == "Fn::GetAtt":
        return f"<{'.'.join(arg) if isinstance(arg, list) else arg}>"
    if fn == "Fn::Join":
        return evaluate(arg[0], params, conditions).join(evaluate(arg[1], params, conditions))
    if fn == "Fn::Split":
        return evaluate(arg[1], params, conditions).split(evaluate(arg[0], params, conditions))
    if fn == "Fn::Sub":
        text, extra = (arg, {}) if isinstance(arg, str) else arg
        values = {**params, **PSEUDO,
                  **{k: evaluate(v, params, conditions) for k, v in extra.items()}}
        return re.sub(r"\$\{([^}]+)\}",
                      lambda m: str(values.get(m.group(1), f"<{m.group(1)}>")), text)
    raise NotImplementedError(fn)
