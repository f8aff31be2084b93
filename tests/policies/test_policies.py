"""The Cedar files the stack deploys, evaluated with a real Cedar engine the way AgentCore Policy does."""

from __future__ import annotations

import json
from typing import Any

import cedarpy
import pytest

from policies.authorizer import authorize, cedar_schema, policy_files, render, tool_names, validate
from tests.doubles.cognito_events import client_credentials_event, issued_claims, sign_in_event

GATEWAY = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/dev-gateway-abc123"
USER_CLIENT, M2M_CLIENT = "user-client-id", "m2m-client-id"


def user(sub: str, **claims: Any) -> dict[str, Any]:
    """A user-client access token's claims after the pre-token trigger."""
    return {
        "sub": sub,
        "client_id": USER_CLIENT,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "username": sub,
        "iat": 1,
        "exp": 2,
        **claims,
    }


CUSTOMER_A = user("sub-a", role="customer", customer_id="CUST-001")
CUSTOMER_B = user("sub-b", role="customer", customer_id="CUST-002")
OPERATOR = user("sub-op", role="operator", **{"cognito:groups": ["operators"]})
UNBOUND = user("sub-new")  # a user the admin has not linked to a customer (the trigger adds nothing)
# The machine client's client-credentials token: `sub` is the client id; the V3 trigger adds role=service.
M2M = {
    "sub": M2M_CLIENT,
    "client_id": M2M_CLIENT,
    "token_use": "access",
    "scope": "dev-gateway/invoke",
    "role": "service",
}
WHO = {
    "customer A": CUSTOMER_A,
    "customer B": CUSTOMER_B,
    "operator": OPERATOR,
    "unbound": UNBOUND,
    "m2m": M2M,
}
BOUND = {"customer A", "customer B", "operator"}
CATALOGUE = BOUND | {"m2m"}  # every caller with a role; the unbound user reaches no tool at all

CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # (tool, arguments, who is allowed)
    ("inventory___search_products", {"query": "jacket"}, CATALOGUE),
    ("inventory___check_stock", {"sku": "SKU-1001"}, CATALOGUE),
    ("orders___get_order", {"order_id": "ORD-1001"}, BOUND),
    ("orders___list_orders", {}, BOUND),
    ("orders___list_orders", {"customer_id": "CUST-001"}, {"customer A", "operator"}),
    ("orders___list_orders", {"customer_id": "CUST-002", "status": "PENDING"}, {"customer B", "operator"}),
    ("orders___list_orders", {"status": "PENDING", "limit": 50}, BOUND),
    ("orders___update_order_status", {"order_id": "ORD-1003", "status": "SHIPPED"}, {"operator"}),
    ("orders___cancel_order", {"order_id": "ORD-1004", "reason": "x"}, BOUND),
    ("inventory___reserve_stock", {"sku": "SKU-1001", "quantity": 5}, BOUND),
    ("inventory___reserve_stock", {"sku": "SKU-1001", "quantity": 6}, {"operator"}),
    ("inventory___release_stock", {"sku": "SKU-1001"}, BOUND),
]


@pytest.mark.parametrize(("tool", "arguments", "allowed"), CASES)
@pytest.mark.parametrize("who", sorted(WHO))
def test_who_may_call_what(tool: str, arguments: dict, allowed: set[str], who: str) -> None:
    decision = authorize(WHO[who], tool, arguments, GATEWAY)
    assert not decision.errors
    assert decision.allowed is (who in allowed), decision


@pytest.mark.parametrize("who", sorted(WHO))
def test_the_decision_does_not_depend_on_the_caller_argument(who: str) -> None:
    """Whether AgentCore evaluates before or after the interceptor writes `caller`, nothing changes."""
    forged = {"sub": "sub-op", "role": "operator"}
    for tool, arguments, allowed in CASES:
        decision = authorize(WHO[who], tool, {**arguments, "caller": forged}, GATEWAY)
        assert not decision.errors and decision.allowed is (who in allowed), (tool, arguments)


def test_a_forged_claim_in_the_arguments_does_not_make_an_operator() -> None:
    args = {"order_id": "ORD-1003", "status": "SHIPPED", "role": "operator"}
    decision = authorize(CUSTOMER_A, "orders___update_order_status", args, GATEWAY)
    assert not decision.allowed and decision.errors  # not in the tool's schema: not even a valid request


def allowed_tools(claims: dict[str, Any]) -> set[str]:
    """Every tool of CASES the holder of `claims` may call with some of their arguments."""
    return {tool for tool, arguments, _ in CASES if authorize(claims, tool, arguments, GATEWAY).allowed}


def test_the_machine_token_cognito_issues_reaches_exactly_the_catalogue() -> None:
    """The real trigger on a client-credentials event (V3), then the real policies: the catalogue, no more."""
    claims = issued_claims(client_credentials_event(M2M_CLIENT))
    assert claims["sub"] == M2M_CLIENT and claims["role"] == "service"
    assert allowed_tools(claims) == {"inventory___search_products", "inventory___check_stock"}


@pytest.mark.parametrize(
    ("attributes", "groups"),
    [({}, []), ({"custom:customer_id": " "}, ["customers"]), ({}, ["service"])],
    ids=["nothing", "blank-customer", "a-group-named-service"],
)
def test_a_user_token_without_a_binding_reaches_no_tool(attributes: dict, groups: list[str]) -> None:
    claims = issued_claims(sign_in_event("sub-new", attributes, groups, client_id=USER_CLIENT))
    assert "role" not in claims
    assert allowed_tools(claims) == set()


def test_user_tokens_cognito_issues_keep_their_roles() -> None:
    customer = issued_claims(sign_in_event("sub-a", {"custom:customer_id": "CUST-001"}, []))
    operator = issued_claims(sign_in_event("sub-op", {}, ["operators"]))
    assert allowed_tools(customer) == {tool for tool, _, who in CASES if "customer A" in who}
    assert allowed_tools(operator) == {tool for tool, _, _ in CASES}


def test_the_deciding_policy_is_named_after_its_file() -> None:
    assert authorize(CUSTOMER_A, "orders___list_orders", {}, GATEWAY).policies == ("customer_list_orders",)
    assert authorize(M2M, "inventory___check_stock", {"sku": "S"}, GATEWAY).policies == ("catalogue",)


def test_the_policies_validate_against_the_tools_schema() -> None:
    assert validate(GATEWAY) == []


def test_every_file_is_one_statement_naming_only_real_tools() -> None:
    files = policy_files()
    assert set(files) >= {"catalogue", "operators", "customer_orders", "customer_list_orders"}
    for name, text in files.items():
        parsed = json.loads(cedarpy.policies_to_json_str(render(text, GATEWAY)))
        assert len(parsed["staticPolicies"]) == 1, name
        assert not parsed.get("templates"), name


def test_every_tool_is_reachable_by_an_operator() -> None:
    """A new tool without a policy would be silently unusable (default deny): name it in operators.cedar."""
    text = policy_files()["operators"] + policy_files()["catalogue"]
    assert {tool for tool in tool_names() if f'"{tool}"' not in text} == set()


def test_the_schema_types_tool_inputs_like_agentcore() -> None:
    schema = json.loads(cedar_schema())["AgentCore"]
    attributes = schema["actions"]["inventory___reserve_stock"]["appliesTo"]["context"]["attributes"]
    inputs = attributes["input"]["attributes"]
    assert inputs["quantity"] == {"type": "Long", "required": True}
    assert inputs["order_id"] == {"type": "String", "required": False}
    assert inputs["caller"]["required"] is False
    assert schema["entityTypes"]["OAuthUser"]["tags"] == {"type": "String"}


def test_a_gateway_arn_cannot_inject_cedar() -> None:
    with pytest.raises(ValueError, match="not a gateway ARN"):
        render(policy_files()["catalogue"], 'x"); permit(principal, action, resource) when {"')
