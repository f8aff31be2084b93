"""Per-user authorization in the templates: policy engine in ENFORCE, Cedar from policies/, interceptor,
customer binding in Cognito (admin-only attribute, pre-token trigger V2, operators group)."""

from __future__ import annotations

import json

import pytest

from policies.authorizer import GATEWAY_ARN_PLACEHOLDER, policy_files

STAGES = ("dev", "staging", "prod")


def _one(template, kind):
    (resource,) = template.find_resources(kind).values()
    return resource["Properties"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_gateway_enforces_its_own_policy_engine(synthesized, stage):
    template = synthesized.template(stage, "Gateway")
    gateway = _one(template, "AWS::BedrockAgentCore::Gateway")
    (engine_id,) = template.find_resources("AWS::BedrockAgentCore::PolicyEngine")
    config = gateway["PolicyEngineConfiguration"]
    assert config["Mode"] == "ENFORCE"
    assert engine_id in json.dumps(config["Arn"])


@pytest.mark.parametrize("stage", STAGES)
def test_the_policies_are_the_files_bound_to_this_gateway(synthesized, stage):
    template = synthesized.template(stage, "Gateway")
    (gateway_id,) = template.find_resources("AWS::BedrockAgentCore::Gateway")
    deployed = {
        p["Properties"]["Name"]: p for p in template.find_resources("AWS::BedrockAgentCore::Policy").values()
    }
    files = policy_files()
    assert set(deployed) == set(files)
    for name, text in files.items():
        statement = deployed[name]["Properties"]["Definition"]["Cedar"]["Statement"]
        rendered = json.dumps(statement)
        before, after = text.split(GATEWAY_ARN_PLACEHOLDER)
        assert gateway_id in rendered and "GatewayArn" in rendered  # the ARN of this stage's gateway
        parts = statement["Fn::Join"][1]
        assert parts[0].strip() == before.strip() and parts[-1].strip() == after.strip()
        targets = [r for r in deployed[name].get("DependsOn", []) if "Target" in r]
        assert len(targets) == 2, "a policy is validated against the targets' tools: create them first"


@pytest.mark.parametrize("stage", STAGES)
def test_the_request_interceptor_gets_the_headers_and_knows_the_stage_clients(synthesized, stage):
    template = synthesized.template(stage, "Gateway")
    gateway = _one(template, "AWS::BedrockAgentCore::Gateway")
    interceptor, response = gateway["InterceptorConfigurations"]
    assert interceptor["InterceptionPoints"] == ["REQUEST"]
    assert interceptor["InputConfiguration"] == {"PassRequestHeaders": True}
    (function_id,) = [
        n for n in template.find_resources("AWS::Lambda::Function") if n.startswith("RequestInterceptor")
    ]
    assert function_id in json.dumps(interceptor["Interceptor"])
    # The same function flags a tool function's refusals as isError on the way back; it needs no headers.
    assert response["InterceptionPoints"] == ["RESPONSE"]
    assert response["InputConfiguration"] == {"PassRequestHeaders": False}
    assert response["Interceptor"] == interceptor["Interceptor"]
    env = template.find_resources("AWS::Lambda::Function")[function_id]["Properties"]["Environment"][
        "Variables"
    ]
    assert "UserClient" in json.dumps(env["USER_CLIENT_IDS"])
    assert "MachineClient" in json.dumps(env["MACHINE_CLIENT_IDS"])
    assert "cognito-idp" in json.dumps(env["TOKEN_ISSUER"])


def test_customers_cannot_write_their_own_binding(synthesized):
    identity = synthesized.template("dev", "Identity")
    pool = _one(identity, "AWS::Cognito::UserPool")
    (attribute,) = [a for a in pool["Schema"] if a["Name"] == "customer_id"]
    assert attribute["AttributeDataType"] == "String" and attribute["Mutable"] is True
    clients = {
        c["ClientName"]: c
        for c in (r["Properties"] for r in identity.find_resources("AWS::Cognito::UserPoolClient").values())
    }
    user = clients["agentcore-dev-user-cli"]
    assert "custom:customer_id" in user["ReadAttributes"]
    assert not any(a.startswith("custom:") for a in user["WriteAttributes"])


def test_the_pre_token_trigger_is_v3_for_machine_tokens_and_the_operators_group_exists(synthesized):
    identity = synthesized.template("dev", "Identity")
    pool = _one(identity, "AWS::Cognito::UserPool")
    trigger = pool["LambdaConfig"]["PreTokenGenerationConfig"]
    assert trigger["LambdaVersion"] == "V3_0"  # V2 never runs for client-credentials tokens
    (function_id,) = [
        n for n in identity.find_resources("AWS::Lambda::Function") if n.startswith("PreTokenTrigger")
    ]
    assert function_id in json.dumps(trigger["LambdaArn"])
    assert pool["UserPoolTier"] == "PLUS"  # access-token customization needs Essentials or Plus
    group = _one(identity, "AWS::Cognito::UserPoolGroup")
    assert group["GroupName"] == "operators"
