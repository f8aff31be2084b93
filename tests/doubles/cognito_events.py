"""The pre-token-generation events a V3 user pool sends, and the access-token claims Cognito then issues.

Shapes from the devguide ("Pre token generation Lambda trigger"): a user sign-in is `TokenGeneration_
Authentication` with the user's attributes and groups (V2 and V3 alike); a client-credentials grant is
`TokenGeneration_ClientCredentials`, with no user, so its user fields are empty or null. The tests run the
REAL trigger (lambdas/pre_token) on them, so a token's claims are what the deployed pool would issue.
"""

from __future__ import annotations

from typing import Any

from local.lambda_context import LAMBDAS_DIR, load_handler

POOL = "us-east-1_TestPool1"
USER_SCOPE = "aws.cognito.signin.user.admin"


def sign_in_event(
    sub: str,
    attributes: dict[str, str],
    groups: list[str],
    client_id: str = "user-client",
    version: str = "3",
) -> dict[str, Any]:
    """A user's sign-in (USER_PASSWORD_AUTH or SRP) as the pool sends it to the trigger."""
    return {
        "version": version,
        "triggerSource": "TokenGeneration_Authentication",
        "region": "us-east-1",
        "userPoolId": POOL,
        "userName": sub,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
        "request": {
            "userAttributes": {"sub": sub, "email": f"{sub}@example.com", **attributes},
            "groupConfiguration": {
                "groupsToOverride": groups,
                "iamRolesToOverride": [],
                "preferredRole": None,
            },
            "scopes": [USER_SCOPE],
        },
        "response": {"claimsAndScopeOverrideDetails": None},
    }


def client_credentials_event(client_id: str = "machine-client", **request: Any) -> dict[str, Any]:
    """A client-credentials grant (V3 only); `request` replaces fields to cover their null or other forms."""
    return {
        "version": "3",
        "triggerSource": "TokenGeneration_ClientCredentials",
        "region": "us-east-1",
        "userPoolId": POOL,
        "userName": client_id,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
        "request": {
            "userAttributes": {},
            "groupConfiguration": None,
            "scopes": ["agentcore-dev-gateway/invoke"],
            **request,
        },
        "response": {"claimsAndScopeOverrideDetails": None},
    }


def added_claims(event: dict[str, Any]) -> dict[str, Any]:
    """The access-token claims the REAL trigger adds for `event` (empty when it adds none)."""
    shaped = load_handler(LAMBDAS_DIR / "pre_token").lambda_handler(event, None)
    details = shaped["response"]["claimsAndScopeOverrideDetails"] or {}
    return dict(details.get("accessTokenGeneration", {}).get("claimsToAddOrOverride", {}))


def issued_claims(event: dict[str, Any]) -> dict[str, Any]:
    """The access token's claims: Cognito's own for the grant, then the trigger's additions."""
    client_id = event["callerContext"]["clientId"]
    machine = event["triggerSource"] == "TokenGeneration_ClientCredentials"
    # A client-credentials token's `sub` is its client's id.
    sub = client_id if machine else event["request"]["userAttributes"]["sub"]
    own = {
        "sub": sub,
        "client_id": client_id,
        "token_use": "access",
        "scope": " ".join(event["request"]["scopes"]),
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}",
        "iat": 1,
        "exp": 2,
        **({} if machine else {"username": sub}),
    }
    return {**own, **added_claims(event)}
