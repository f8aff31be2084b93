"""A gateway's targets are created at most five at a time (AgentCore's concurrent target operations)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.deploy_order import GATEWAY_TARGET_OPERATIONS, at_most_in_flight


def _in_flight_at_most(depends_on: dict[str, list[str]], order: list[str]) -> int:
    """The most resources CloudFormation could run at once: it starts whatever has its dependencies done, and
    here the earliest-started finishes last (the worst case for concurrency)."""
    done: set[str] = set()
    running: list[str] = []
    pending = list(order)
    most = 0
    while pending or running:
        ready = [r for r in pending if set(depends_on.get(r, [])) <= done]
        running += ready
        pending = [r for r in pending if r not in ready]
        most = max(most, len(running))
        done.add(running.pop())  # the newest finishes; the oldest keep running
    return most


def test_twelve_targets_never_run_more_than_five_operations_at_once():
    stack = cdk.Stack(cdk.App(), "S")
    resources = [cdk.CfnResource(stack, f"T{i:02d}", type="AWS::SQS::Queue") for i in range(12)]
    at_most_in_flight(resources, GATEWAY_TARGET_OPERATIONS)
    template = Template.from_stack(stack).to_json()["Resources"]
    depends_on = {name: r.get("DependsOn", []) for name, r in template.items()}
    assert depends_on["T05"] == ["T00"] and depends_on["T11"] == ["T06"] and depends_on["T04"] == []
    assert _in_flight_at_most(depends_on, sorted(template)) == GATEWAY_TARGET_OPERATIONS
    assert _in_flight_at_most({}, sorted(template)) == 12  # what a deploy would start without it


def test_the_stages_two_targets_wait_for_nothing(synthesized):
    gateway = synthesized.template("dev", "Gateway")
    for target in gateway.find_resources("AWS::BedrockAgentCore::GatewayTarget").values():
        assert not any("Target" in d for d in target.get("DependsOn", []))
