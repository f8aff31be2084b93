"""The memory stack: KMS-encrypted Memory with per-user strategies, and exactly the agent grants it needs."""

from __future__ import annotations

import json

import pytest

from stacks.memory_stack import NAMESPACES
from tests.conftest import ROOT
from tests.stacks.client_calls import client_actions


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.template("dev", "Memory")


def _memory(template):
    (memory,) = template.find_resources("AWS::BedrockAgentCore::Memory").values()
    return memory


def test_memory_name_expiry_and_customer_managed_key(dev, synthesized):
    props = _memory(dev)["Properties"]
    assert props["Name"] == "agentcore_dev_memory"
    assert props["EventExpiryDuration"] == synthesized.stages["dev"].config.memory_event_expiry_days
    assert props["EncryptionKeyArn"] == {
        "Fn::GetAtt": [next(iter(dev.find_resources("AWS::KMS::Key"))), "Arn"]
    }
    dev.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_strategies_write_to_per_actor_namespaces(dev):
    strategies = {}
    for strategy in _memory(dev)["Properties"]["MemoryStrategies"]:
        ((kind, body),) = strategy.items()
        strategies[kind] = body["Namespaces"]
    assert strategies == {
        "SemanticMemoryStrategy": [NAMESPACES["facts"]],
        "UserPreferenceMemoryStrategy": [NAMESPACES["preferences"]],
        "SummaryMemoryStrategy": [NAMESPACES["summaries"]],
    }
    assert all("{actorId}" in namespace for namespace in NAMESPACES.values())
    assert "{sessionId}" in NAMESPACES["summaries"]


def test_prod_memory_and_key_are_retained(synthesized, dev):
    prod = synthesized.template("prod", "Memory")
    prod.has_resource("AWS::BedrockAgentCore::Memory", {"DeletionPolicy": "Retain"})
    prod.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Retain"})
    assert _memory(dev)["DeletionPolicy"] == "Delete"
    assert _memory(prod)["Properties"]["EventExpiryDuration"] == 90


def _memory_actions(synthesized):
    runtime = synthesized.template("dev", "Runtime")
    actions = set()
    for name, policy in runtime.find_resources("AWS::IAM::Policy").items():
        if not name.startswith("RuntimeExecutionRole"):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "Memory" in json.dumps(statement["Resource"]):
                assert "dev-Memory" in json.dumps(statement["Resource"]), (
                    "grants must target this stage's memory"
                )
                actions |= set(
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
    return actions


def agent_memory_actions() -> set[str]:
    """The IAM actions of the data-plane calls `agentcore_agent/memory_hooks.py` makes on its client."""
    return client_actions(
        ROOT / "agent_src" / "agentcore_agent" / "memory_hooks.py", "client", "bedrock-agentcore"
    )


def test_agent_gets_exactly_the_memory_actions_it_calls(synthesized):
    called = agent_memory_actions()
    assert "bedrock-agentcore:CreateEvent" in called  # the source reading finds the calls
    assert _memory_actions(synthesized) == called


def test_agent_environment_carries_memory_id_and_the_same_namespaces(synthesized):
    runtime = synthesized.template("dev", "Runtime")
    (resource,) = runtime.find_resources("AWS::BedrockAgentCore::Runtime").values()
    env = resource["Properties"]["EnvironmentVariables"]
    assert "dev-Memory" in json.dumps(env["MEMORY_ID"])
    assert json.loads(env["MEMORY_NAMESPACES"]) == dict(NAMESPACES)
    config = synthesized.stages["dev"].config
    assert env["MEMORY_LAST_K_TURNS"] == str(config.memory_last_k_turns)
    assert env["MEMORY_TOP_K"] == str(config.memory_top_k)
