"""Tool roles get exactly the DynamoDB actions their handlers call, on their table and its named indexes;
the hold sweeper gets what it calls and runs on a schedule."""

from __future__ import annotations

import ast
import json

import pytest
from aws_cdk.assertions import Match

from stacks.tool_schema import LAMBDAS
from stacks.tools_stack import HOLD_SWEEPER_ACTIONS, SWEEP_EVERY, TARGETS

SHARED = LAMBDAS / "shared" / "python"

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


def _modules(source: str) -> list[ast.Module]:
    """`lambdas/<source>/handler.py` and the layer modules it imports (other than gateway_tool, which
    makes no DynamoDB call of its own)."""
    tree = ast.parse((LAMBDAS / source / "handler.py").read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    shared = [SHARED / f"{name}.py" for name in sorted(names) if (SHARED / f"{name}.py").is_file()]
    return [tree, *(ast.parse(path.read_text()) for path in shared)]


def handler_actions(target: str) -> set[str]:
    """The IAM actions `lambdas/<target>/handler.py` needs, read from its (and its layer modules')
    DynamoDB client calls; a transaction is authorized per item kind, wherever its items are built."""
    nodes = [node for tree in _modules(target) for node in ast.walk(tree)]
    calls = {n.func.attr for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    actions = {CALLS[name] for name in calls & set(CALLS)}
    if calls & {"transact_write_items", "transact_get_items"}:
        keys = {
            key.value
            for n in nodes
            if isinstance(n, ast.Dict)
            for key in n.keys
            if isinstance(key, ast.Constant)
        }
        actions |= {TRANSACT_ITEMS[key] for key in keys if key in TRANSACT_ITEMS}
    return {f"dynamodb:{a}" for a in actions}


def _dynamodb_statements(template, construct):
    policies = template.find_resources("AWS::IAM::Policy")
    (policy,) = [p for name, p in policies.items() if name.startswith(f"Tools{construct}FunctionRole")]
    return [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:" in json.dumps(s["Action"])
    ]


def _actions(statement):
    return set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])


def _table_ref(statement):
    """The logical id of the table a statement's first resource names."""
    resource = statement["Resource"]
    first = resource[0] if isinstance(resource, list) else resource
    return json.dumps(first).split('"')[3]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_tool_role_may_call_exactly_what_its_handler_calls(synthesized, target):
    spec = TARGETS[target]
    assert handler_actions(target)  # the scan found the handler's calls
    assert set(spec.actions) | {action for _, action in spec.other_tables} == handler_actions(target)
    own, *others = _dynamodb_statements(synthesized.template("dev", "Gateway"), target.title())
    assert _actions(own) == set(spec.actions)
    assert _table_ref(own).startswith(f"Tools{target.title()}Table")
    assert len(others) == len(spec.other_tables)
    for statement, (other, action) in zip(others, spec.other_tables, strict=True):
        assert _actions(statement) == {action}
        assert _table_ref(statement).startswith(f"Tools{other.title()}Table")
        assert not isinstance(statement["Resource"], list) or len(statement["Resource"]) == 1


def test_the_orders_role_may_query_only_its_named_indexes(synthesized):
    (statement,) = _dynamodb_statements(synthesized.template("dev", "Gateway"), "Orders")
    resources = json.dumps(statement["Resource"])
    assert "/index/*" not in resources
    for name, _, _ in TARGETS["orders"].indexes:
        assert f"/index/{name}" in resources


def test_the_inventory_role_reaches_the_orders_table_only_to_check_an_order(synthesized):
    functions = synthesized.template("dev", "Gateway").find_resources("AWS::Lambda::Function")
    (function,) = [
        f
        for name, f in functions.items()
        if name.startswith("ToolsInventoryFunction") and f["Type"] == "AWS::Lambda::Function"
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["ORDERS_TABLE_NAME"]["Ref"].startswith("ToolsOrdersTable")


def test_the_hold_sweeper_may_call_exactly_what_it_calls(synthesized):
    assert handler_actions("hold_sweeper") == {
        a for actions in HOLD_SWEEPER_ACTIONS.values() for a in actions
    }
    on_table, on_index = _dynamodb_statements(synthesized.template("dev", "Gateway"), "HoldSweeper")
    assert _actions(on_table) == set(HOLD_SWEEPER_ACTIONS["table"])
    assert _table_ref(on_table).startswith("ToolsInventoryTable")
    assert _actions(on_index) == set(HOLD_SWEEPER_ACTIONS["by_expiry"])
    assert json.dumps(on_index["Resource"]).endswith('"/index/by_expiry"]]}')
    policies = synthesized.template("dev", "Gateway").find_resources("AWS::IAM::Policy")
    (policy,) = [p for name, p in policies.items() if name.startswith("ToolsHoldSweeperFunctionRole")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (kms,) = [s for s in statements if "kms:" in json.dumps(s["Action"])]
    assert json.dumps(kms["Resource"]).startswith('{"Fn::GetAtt": ["ToolsDataKey')  # the table's key only
    assert not [s for s in statements if s.get("Resource") == "*"]


def test_the_hold_sweeper_runs_on_a_schedule_and_is_no_gateway_target(synthesized):
    template = synthesized.template("dev", "Gateway")
    rate = SWEEP_EVERY.to_minutes()
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": f"rate({rate} minutes)",
            "State": "ENABLED",
            "Targets": [
                {"Arn": {"Fn::GetAtt": [Match.string_like_regexp("^ToolsHoldSweeperFunction"), "Arn"]}}
            ],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [Match.string_like_regexp("^ToolsHoldSweeperFunction"), "Arn"]},
        },
    )
    targets = template.find_resources("AWS::BedrockAgentCore::GatewayTarget")
    assert "HoldSweeper" not in json.dumps(targets)


def test_the_inventory_table_indexes_holds_by_expiry_as_the_handler_tests_create_it(synthesized):
    from tests.lambdas.conftest import TABLE_DEFINITIONS

    template = synthesized.template("dev", "Gateway")
    (table,) = [
        t
        for name, t in template.find_resources("AWS::DynamoDB::GlobalTable").items()
        if name.startswith("ToolsInventoryTable")
    ]
    declared = TABLE_DEFINITIONS["inventory"]["GlobalSecondaryIndexes"]
    assert [index["IndexName"] for index in declared] == ["by_expiry"]
    assert table["Properties"]["GlobalSecondaryIndexes"] == declared
