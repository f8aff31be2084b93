"""The IAM actions a module's code calls on its boto3 client, read from its source (so a grant test fails when
the code starts calling something the stack does not grant)."""

from __future__ import annotations

import ast
from pathlib import Path


def client_actions(source: Path, client_attribute: str, service: str) -> set[str]:
    """`<service>:<Action>` of every `<...>.<client_attribute>.<call>(...)` in `source`."""
    tree = ast.parse(source.read_text())
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == client_attribute
    }
    return {f"{service}:" + "".join(word.title() for word in call.split("_")) for call in calls}
