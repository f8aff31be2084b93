"""The pre-token-generation trigger (V3): the admin-set binding, or the machine role, becomes token claims."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from local.lambda_context import LAMBDAS_DIR, load_handler
from tests.doubles.cognito_events import client_credentials_event, sign_in_event


@pytest.fixture(scope="module")
def trigger() -> ModuleType:
    return load_handler(LAMBDAS_DIR / "pre_token")


def user_event(attributes: dict[str, str], groups: list[str], version: str = "3") -> dict[str, Any]:
    return sign_in_event("sub-a", attributes, groups, version=version)


def access_claims(event: dict[str, Any]) -> dict[str, str] | None:
    details = event["response"]["claimsAndScopeOverrideDetails"]
    return details and details["accessTokenGeneration"]["claimsToAddOrOverride"]


@pytest.mark.parametrize("version", ["2", "3"])
def test_a_linked_customer_gets_role_and_customer_id(trigger: ModuleType, version: str) -> None:
    out = trigger.lambda_handler(user_event({"custom:customer_id": "CUST-001"}, [], version), None)
    assert access_claims(out) == {"role": "customer", "customer_id": "CUST-001"}
    assert out["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"] == {
        "claimsToAddOrOverride": {"role": "customer", "customer_id": "CUST-001"}
    }


def test_an_operator_is_an_operator_whatever_else_is_set(trigger: ModuleType) -> None:
    out = trigger.lambda_handler(user_event({"custom:customer_id": "CUST-001"}, ["operators"]), None)
    assert access_claims(out) == {"role": "operator"}


def test_an_unlinked_user_gets_nothing(trigger: ModuleType) -> None:
    out = trigger.lambda_handler(user_event({"custom:customer_id": "  "}, ["other-group"]), None)
    assert access_claims(out) is None


def test_the_operator_group_is_configurable(trigger: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPERATOR_GROUP", "support")
    assert access_claims(trigger.lambda_handler(user_event({}, ["support"]), None)) == {"role": "operator"}
    assert access_claims(trigger.lambda_handler(user_event({}, ["operators"]), None)) is None


@pytest.mark.parametrize(
    "request_fields",
    [{}, {"userAttributes": None}, {"clientMetadata": {"k": "v"}}],
    ids=["as-documented", "null-attributes", "client-metadata"],
)
def test_a_machine_token_gets_the_service_role_and_no_id_token(
    trigger: ModuleType, request_fields: dict[str, Any]
) -> None:
    out = trigger.lambda_handler(client_credentials_event(**request_fields), None)
    assert out["response"]["claimsAndScopeOverrideDetails"] == {
        "accessTokenGeneration": {"claimsToAddOrOverride": {"role": "service"}}
    }


def test_a_machine_event_without_user_fields_does_not_crash(trigger: ModuleType) -> None:
    event = client_credentials_event()
    del event["request"]["userAttributes"], event["request"]["groupConfiguration"], event["response"]
    assert access_claims(trigger.lambda_handler(event, None)) == {"role": "service"}


def test_a_machine_cannot_become_an_operator_or_a_customer_through_its_request(trigger: ModuleType) -> None:
    """Client metadata is the caller's own input: it never changes the role."""
    event = client_credentials_event(
        clientMetadata={"role": "operator", "custom:customer_id": "CUST-001"},
        groupConfiguration={"groupsToOverride": ["operators"], "iamRolesToOverride": []},
    )
    assert access_claims(trigger.lambda_handler(event, None)) == {"role": "service"}
