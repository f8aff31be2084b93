"""The token-usage table: KMS, TTL, retained in prod, and exactly the agent grants the token budget uses."""

from __future__ import annotations

import json

from stacks.usage_stack import AGENT_KEY_ACTIONS, AGENT_USAGE_ACTIONS, TTL_ATTRIBUTE
from tests.conftest import ROOT
from tests.stacks.client_calls import client_actions


def _table(template):
    (table,) = template.find_resources("AWS::DynamoDB::GlobalTable").values()
    return table


def test_the_table_is_keyed_per_caller_and_day_encrypted_with_its_own_key_and_expires(synthesized):
    usage = synthesized.template("dev", "Usage")
    props = _table(usage)["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "usage_key", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    (key,) = usage.find_resources("AWS::KMS::Key")
    assert props["SSESpecification"]["SSEType"] == "KMS"
    assert key in json.dumps(props["Replicas"])
    usage.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_prod_keeps_its_usage_and_key_dev_does_not(synthesized):
    prod = synthesized.template("prod", "Usage")
    prod.has_resource("AWS::DynamoDB::GlobalTable", {"DeletionPolicy": "Retain"})
    prod.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Retain"})
    assert _table(synthesized.template("dev", "Usage"))["DeletionPolicy"] == "Delete"


def _usage_statements(synthesized):
    runtime = synthesized.template("dev", "Runtime")
    return [
        statement
        for name, policy in runtime.find_resources("AWS::IAM::Policy").items()
        if name.startswith("RuntimeExecutionRole")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "dev-Usage" in json.dumps(statement["Resource"])
    ]


def budget_table_calls() -> set[str]:
    """The DynamoDB actions of the calls `agentcore_agent/token_budget.py` makes on its client."""
    return client_actions(ROOT / "agent_src" / "agentcore_agent" / "token_budget.py", "_client", "dynamodb")


def test_the_agent_gets_exactly_the_table_calls_it_makes_and_the_keys_exact_actions(synthesized):
    assert budget_table_calls() == set(AGENT_USAGE_ACTIONS) == {"dynamodb:GetItem", "dynamodb:PutItem"}
    granted = {}
    for statement in _usage_statements(synthesized):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        service = actions[0].split(":")[0]
        granted[service] = set(actions)
        assert "*" not in json.dumps(statement["Resource"])
    assert granted == {"dynamodb": set(AGENT_USAGE_ACTIONS), "kms": set(AGENT_KEY_ACTIONS)}


def test_the_agent_is_told_the_table_and_each_kinds_budget(synthesized):
    runtime = synthesized.template("dev", "Runtime")
    (resource,) = runtime.find_resources("AWS::BedrockAgentCore::Runtime").values()
    env = resource["Properties"]["EnvironmentVariables"]
    config = synthesized.stages["dev"].config
    assert env["TOKEN_BUDGET_TABLE"]["Fn::GetStackOutput"]["StackName"] == "dev-Usage"
    assert env["TOKEN_BUDGET_USER"] == str(config.token_budget_per_user_per_day)
    assert env["TOKEN_BUDGET_OPERATOR"] == str(config.token_budget_per_operator_per_day)
    assert env["TOKEN_BUDGET_MACHINE"] == str(config.token_budget_per_machine_per_day)
