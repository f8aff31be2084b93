"""Cognito pre-token-generation trigger (event version V3): puts the caller's binding into the access token.

Adds string claims that the gateway's Cedar policies read as principal tags and its interceptor turns into
the tool call's verified caller:
- `role`: `service` for a client-credentials (M2M) token, `operator` for members of the OPERATOR_GROUP
  group, else `customer` when the user is linked to a customer;
- `customer_id`: the admin-only `custom:customer_id` attribute (customers only).
A user bound to nothing gets no claims, and so no tool at all (every policy requires a `role`). The claims
are always overwritten, so nothing a client sends can set them; the attribute is writable only through admin
APIs (not by the user client).

Why V3: Cognito runs the V2 event only for user sign-ins; client-credentials tokens reach the trigger only
from V3 (`triggerSource` `TokenGeneration_ClientCredentials`; otherwise the V2 and V3 events are identical,
devguide "Pre token generation Lambda trigger"). A machine token has no user: its event carries no user
attributes or groups worth reading (empty, null or absent), and there is no ID token to customize, so only
the access token is overridden. Every client-credentials client of this pool is a confidential app client
the stack created for a machine, so the trigger source alone decides `service`.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

CUSTOMER_ATTRIBUTE = "custom:customer_id"
DEFAULT_OPERATOR_GROUP = "operators"
CLIENT_CREDENTIALS = "TokenGeneration_ClientCredentials"
MACHINE_CLAIMS = {"role": "service"}

logger = logging.getLogger("pre_token")
logger.setLevel(logging.INFO)


def binding_claims(attributes: dict[str, Any], groups: list[str]) -> dict[str, str]:
    """The claims one user's access token gets (empty for a user bound to nothing)."""
    if os.environ.get("OPERATOR_GROUP", DEFAULT_OPERATOR_GROUP) in groups:
        return {"role": "operator"}
    customer_id = str(attributes.get(CUSTOMER_ATTRIBUTE, "")).strip()
    return {"role": "customer", "customer_id": customer_id} if customer_id else {}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Add the binding claims to the access token (and a user's ID token); leave the rest as it is."""
    request = event.get("request") or {}
    if event.get("triggerSource") == CLIENT_CREDENTIALS:
        tokens = {"accessTokenGeneration": {"claimsToAddOrOverride": dict(MACHINE_CLAIMS)}}
    else:
        groups = (request.get("groupConfiguration") or {}).get("groupsToOverride") or []
        claims = binding_claims(request.get("userAttributes") or {}, list(groups))
        if not claims:
            unbound = {"message": "user bound to no customer", "user": event.get("userName")}
            logger.warning(json.dumps(unbound))
            return event
        override = {"claimsToAddOrOverride": claims}
        tokens = {"accessTokenGeneration": override, "idTokenGeneration": override}
    event["response"] = {**(event.get("response") or {}), "claimsAndScopeOverrideDetails": tokens}
    return event
