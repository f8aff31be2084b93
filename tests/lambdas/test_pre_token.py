"""The pre-token-generation trigger (V2): the admin-set binding becomes access-token claims."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from local.lambda_context import LAMBDAS_DIR, load_handler


@pytest.fixture(scope="module")
def trigger() -> ModuleType:
    return load_handler(LAMBDAS_DIR / "pre_token")


def v2_event(attributes: dict[str, str], groups: list[str]) -> dict[str, Any]:
    """A Cognito V2 TokenGeneration event as the user pool sends it."""
    return {
        "version": "2",
        "triggerSource": "TokenGeneration_Authentication",
        "region": "us-east-1",
        "userPoolId": "us-east-1_TestPool1",
        "userName": "alice",
        "callerContext": {"awsSdkVersion": "x", "clientId": "user-client"},
        "request": {
            "userAttributes": {"sub": "sub-a", "email": "a@example.com", **attributes},
            "groupConfiguration": {
                "groupsToOverride": groups,
                "iamRolesToOverride": [],
                "preferredRole": None,
            },
            "scopes": ["aws.cognito.signin.user.admin"],
        },
        "response": {"claimsAndScopeOverrideDetails": None},
    }


def access_claims(event: dict[str, Any]) -> dict[str, str] | None:
    details = event["response"]["claimsAndScopeOverrideDetails"]
    return details and details["accessTokenGeneration"]["claimsToAddOrOverride"]


def test_a_linked_customer_gets_role_and_customer_id(trigger: ModuleType) -> None:
    out = trigger.lambda_handler(v2_event({"custom:customer_id": "CUST-001"}, []), None)
    assert access_claims(out) == {"role": "customer", "customer_id": "CUST-001"}
    assert out["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"] == {
        "claimsToAddOrOverride": {"role": "customer", "customer_id": "CUST-001"}
    }


def test_an_operator_is_an_operator_whatever_else_is_set(trigger: ModuleType) -> None:
    out = trigger.lambda_handler(v2_event({"custom:customer_id": "CUST-001"}, ["operators"]), None)
    assert access_claims(out) == {"role": "operator"}


def test_an_unlinked_user_gets_nothing(trigger: ModuleType) -> None:
    out = trigger.lambda_handler(v2_event({"custom:customer_id": "  "}, ["other-group"]), None)
    assert access_claims(out) is None


def test_the_operator_group_is_configurable(trigger: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPERATOR_GROUP", "support")
    assert access_claims(trigger.lambda_handler(v2_event({}, ["support"]), None)) == {"role": "operator"}
    assert access_claims(trigger.lambda_handler(v2_event({}, ["operators"]), None)) is None
