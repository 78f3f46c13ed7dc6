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


def evaluate(node: Any, params: dict[str, Any]) -> Any:
    """The value of `node`; a resource's Ref or GetAtt becomes "<Name>" or "<Name.Attr>"."""
    if isinstance(node, list):
        return [evaluate(item, params) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) != 1 or not next(iter(node)).startswith(("Ref", "Fn::")):
        return {k: evaluate(v, params) for k, v in node.items()}
    (fn, arg), = node.items()
    if fn == "Ref":
        return params.get(arg, PSEUDO.get(arg, f"<{arg}>"))
    if fn == "Fn::GetAtt":
        return f"<{'.'.join(arg) if isinstance(arg, list) else arg}>"
    if fn == "Fn::Join":
        return evaluate(arg[0], params).join(evaluate(arg[1], params))
    if fn == "Fn::Split":
        return evaluate(arg[1], params).split(evaluate(arg[0], params))
    if fn == "Fn::Sub":
        text, extra = (arg, {}) if isinstance(arg, str) else arg
        values = {**params, **PSEUDO, **{k: evaluate(v, params) for k, v in extra.items()}}
        return re.sub(r"\$\{([^}]+)\}",
                      lambda m: str(values.get(m.group(1), f"<{m.group(1)}>")), text)
    raise NotImplementedError(fn)
