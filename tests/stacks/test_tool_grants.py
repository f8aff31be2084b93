"""Tool roles get exactly the DynamoDB actions their handlers call, on their table and its named indexes."""

from __future__ import annotations

import ast
import json

import pytest

from stacks.tool_schema import LAMBDAS
from stacks.tools_stack import TARGETS

# boto3 DynamoDB client method -> IAM action; a transaction is authorized per item kind.
CALLS = {
    "get_item": "GetItem",
    "batch_get_item": "BatchGetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "batch_write_item": "BatchWriteItem",
    "query": "Query",
    "scan": "Scan",
    "describe_table": "DescribeTable",
}
TRANSACT_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def handler_actions(target: str) -> set[str]:
    """The IAM actions `lambdas/<target>/handler.py` needs, read from its DynamoDB client calls."""
    tree = ast.parse((LAMBDAS / target / "handler.py").read_text())
    actions = set()
    transacts = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in CALLS:
                actions.add(CALLS[node.func.attr])
            transacts |= node.func.attr in {"transact_write_items", "transact_get_items"}
    if transacts:
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key in node.keys:
                    if isinstance(key, ast.Constant) and key.value in TRANSACT_ITEMS:
                        actions.add(TRANSACT_ITEMS[key.value])
    return {f"dynamodb:{a}" for a in actions}


def _dynamodb_statements(template, target):
    policies = template.find_resources("AWS::IAM::Policy")
    (policy,) = [p for name, p in policies.items() if name.startswith(f"Tools{target.title()}FunctionRole")]
    return [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:" in json.dumps(s["Action"])
    ]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_tool_role_may_call_exactly_what_its_handler_calls(synthesized, target):
    assert handler_actions(target)  # the scan found the handler's calls
    assert set(TARGETS[target].actions) == handler_actions(target)
    (statement,) = _dynamodb_statements(synthesized.template("dev", "Gateway"), target)
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    assert set(actions) == handler_actions(target)


def test_the_orders_role_may_query_only_its_named_indexes(synthesized):
    (statement,) = _dynamodb_statements(synthesized.template("dev", "Gateway"), "orders")
    resources = json.dumps(statement["Resource"])
    assert "/index/*" not in resources
    for name, _, _ in TARGETS["orders"].indexes:
        assert f"/index/{name}" in resources
