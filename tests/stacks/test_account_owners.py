"""One owner of the account-wide singletons (Transaction Search, the X-Ray policy) per account and region,
derived from the stage table; a configuration that would create them twice fails in one line."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.config import ConfigError, load_stages
from tests.conftest import cdk_context

A, B, C = "111111111111", "222222222222", "333333333333"
SINGLETONS = ("AWS::XRay::ResourcePolicy", "Custom::TransactionSearch")


def context(**stages: dict[str, Any]) -> dict[str, Any]:
    """cdk.json's context with each stage's settings replaced by `stages` (in that order)."""
    configured = copy.deepcopy(cdk_context())
    configured["agentcore:stages"] = stages
    return configured


def owners(**stages: dict[str, Any]) -> list[str]:
    return [config.name for config in load_stages(context(**stages)) if config.owns_account_resources]


def built_owners(**stages: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per stage that synthesizes an account stack, how many of each singleton its template holds."""
    from app import build_app, new_app

    found = {}
    for stage in build_app(new_app(context=context(**stages))):
        for stack in (stage.identity, stage.gateway, stage.memory, stage.runtime, stage.observability):
            for kind in SINGLETONS:
                assert not Template.from_stack(stack).find_resources(kind), (stage.stage_name, kind)
        if stage.account_resources is not None:
            template = Template.from_stack(stage.account_resources)
            found[stage.stage_name] = {kind: len(template.find_resources(kind)) for kind in SINGLETONS}
    return found


def test_three_stages_in_three_accounts_each_own_their_account():
    built = built_owners(dev={"account": A}, staging={"account": B}, prod={"account": C})
    assert built == {name: dict.fromkeys(SINGLETONS, 1) for name in ("dev", "staging", "prod")}


def test_three_stages_in_two_accounts_have_two_owners_the_first_of_each():
    built = built_owners(dev={"account": A}, staging={"account": B}, prod={"account": B})
    assert built == {name: dict.fromkeys(SINGLETONS, 1) for name in ("dev", "staging")}


def test_the_default_stage_table_has_one_owner_the_first_stage():
    """cdk.json names no account: its stages deploy to one account, so only dev owns."""
    assert [c.name for c in load_stages(cdk_context()) if c.owns_account_resources] == ["dev"]


def test_the_resources_are_per_region_too():
    west = {"account": A, "region": "us-west-2"}
    assert owners(dev={"account": A}, staging=west, prod={"account": A}) == ["dev", "staging"]


def test_an_explicit_owner_or_refusal_moves_ownership_within_its_account():
    assert owners(dev={}, staging={}, prod={"owns_account_resources": True}) == ["prod"]
    assert owners(dev={"owns_account_resources": False}, staging={}, prod={}) == ["staging"]
    refused = {"owns_account_resources": False}
    assert owners(dev=refused, staging=refused, prod=refused) == []


def test_two_stages_claiming_one_account_fail_in_one_line():
    claim = {"account": B, "owns_account_resources": True}
    with pytest.raises(ConfigError) as error:
        load_stages(context(dev={"account": A}, staging=claim, prod=claim))
    message = str(error.value)
    assert message.startswith(
        "stage 'prod', key 'owns_account_resources': stage 'staging' already owns the account-level "
        "resources of account 222222222222 in us-east-1"
    )
    assert "\n" not in message


def test_an_owner_without_an_account_may_share_one_with_a_named_owner():
    """dev deploys wherever its credentials point, which may be prod's account: refused, not guessed."""
    with pytest.raises(ConfigError, match="stage 'prod', key 'owns_account_resources': stage 'dev' may"):
        load_stages(context(dev={}, prod={"account": B}))
    assert owners(dev={"owns_account_resources": False}, prod={"account": B}) == ["prod"]


def test_with_a_pipeline_a_stage_without_an_account_is_in_the_pipelines_account():
    """The pipeline deploys such a stage to its own account, so that account is known."""
    from tests.stacks.test_pipeline_stack import PIPELINE

    def with_pipeline(**stages: dict[str, Any]) -> list[str]:
        configured = {**context(**stages), "agentcore:pipeline": PIPELINE}
        return [config.name for config in load_stages(configured) if config.owns_account_resources]

    assert with_pipeline(dev={}, staging={}, prod={"account": B}) == ["dev", "prod"]
    assert with_pipeline(dev={}, staging={}, prod={"account": PIPELINE["account"]}) == ["dev"]
