"""CloudFormation values for people: `{"Ref": "Key"}` -> `${Key}`, joins concatenated, JSON otherwise."""

from __future__ import annotations

import json
from typing import Any


def render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"${{{argument}}}"
        if function == "Fn::GetAtt":
            target = argument if isinstance(argument, str) else ".".join(map(str, argument))
            return f"${{{target}}}"
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
            separator, parts = argument
            if isinstance(parts, list):
                return str(separator).join(render(part) for part in parts)
        if function == "Fn::Sub":
            return argument if isinstance(argument, str) else render(argument[0])
        if function == "Fn::ImportValue":
            return f"${{import:{render(argument)}}}"
        if function == "Fn::GetStackOutput" and isinstance(argument, dict):  # CDK's cross-region reference
            return f"${{{render(argument.get('StackName'))}.{render(argument.get('OutputName'))}}}"
    return json.dumps(value, sort_keys=True)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
