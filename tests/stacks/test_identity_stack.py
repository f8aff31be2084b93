"""The identity stack: a locked-down pool, a user client for people and an M2M client for the agent."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.template("dev", "Identity")


@pytest.fixture(scope="module")
def prod(synthesized):
    return synthesized.template("prod", "Identity")


def test_pool_has_no_self_sign_up_and_a_strong_password_policy(dev):
    dev.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "Policies": {
                "PasswordPolicy": Match.object_like(
                    {
                        "MinimumLength": 14,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": True,
                    }
                )
            },
            "UserPoolTier": "PLUS",
        },
    )


def test_threat_protection_and_mfa_follow_the_stage(dev, prod):
    dev.has_resource_properties(
        "AWS::Cognito::UserPool",
        {"UserPoolAddOns": {"AdvancedSecurityMode": "AUDIT"}, "MfaConfiguration": "OPTIONAL"},
    )
    prod.has_resource_properties(
        "AWS::Cognito::UserPool",
        {"UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"}, "MfaConfiguration": "ON"},
    )


def test_prod_pool_is_retained_and_protected_dev_pool_is_not(dev, prod):
    prod.has_resource(
        "AWS::Cognito::UserPool",
        {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
         "Properties": Match.object_like({"DeletionProtection": "ACTIVE"})},
    )  # fmt: skip
    dev.has_resource("AWS::Cognito::UserPool", {"DeletionPolicy": "Delete"})
    assert (
        dev.find_resources("AWS::Cognito::UserPool", {"Properties": {"DeletionProtection": "ACTIVE"}}) == {}
    )


def test_user_client_has_no_secret_and_password_flows(dev):
    dev.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,
            "ExplicitAuthFlows": Match.array_equals(
                ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
            ),
            "AllowedOAuthFlowsUserPoolClient": False,
            "PreventUserExistenceErrors": "ENABLED",
        },
    )


def test_machine_client_uses_client_credentials_with_the_gateway_scope(dev):
    clients = dev.find_resources("AWS::Cognito::UserPoolClient", {"Properties": {"GenerateSecret": True}})
    assert len(clients) == 1
    (props,) = [c["Properties"] for c in clients.values()]
    assert props["AllowedOAuthFlows"] == ["client_credentials"]
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    (scope,) = props["AllowedOAuthScopes"]
    (server,) = dev.find_resources("AWS::Cognito::UserPoolResourceServer")
    assert scope == {"Fn::Join": ["", [{"Ref": server}, "/invoke"]]}


def test_resource_server_domain_and_outputs(dev):
    dev.has_resource_properties(
        "AWS::Cognito::UserPoolResourceServer",
        {"Identifier": "agentcore-dev-gateway", "Scopes": [Match.object_like({"ScopeName": "invoke"})]},
    )
    dev.resource_count_is("AWS::Cognito::UserPoolDomain", 1)
    outputs = dev.find_outputs("*")
    for name in ("UserPoolId", "DiscoveryUrl", "UserClientId", "MachineClientId", "TokenEndpoint"):
        assert name in outputs
    assert "/.well-known/openid-configuration" in str(outputs["DiscoveryUrl"]["Value"])
    assert "cognito-idp.us-east-1.amazonaws.com" in str(outputs["DiscoveryUrl"]["Value"])


def test_machine_client_allows_no_explicit_auth_flow(dev):
    """Without the list Cognito allows REFRESH_TOKEN, USER_SRP and CUSTOM_AUTH through the machine client."""
    clients = dev.find_resources(
        "AWS::Cognito::UserPoolClient", {"Properties": {"AllowedOAuthFlows": ["client_credentials"]}}
    )
    assert [c["Properties"].get("ExplicitAuthFlows") for c in clients.values()] == [[]]
