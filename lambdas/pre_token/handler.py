"""Cognito pre-token-generation trigger (event version V2): puts the user's binding into the access token.

Adds two string claims that the gateway's Cedar policies read as principal tags and its interceptor turns
into the tool call's verified caller:
- `role`: `operator` for members of the OPERATOR_GROUP group, else `customer` when the user is linked to a
  customer;
- `customer_id`: the admin-only `custom:customer_id` attribute (customers only).
A user with neither gets no claims (and so no customer data). Both are always overwritten, so nothing a
client sends can set them; the attribute is writable only through admin APIs (not by the user client).
Client-credentials (M2M) tokens do not run this V2 trigger.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

CUSTOMER_ATTRIBUTE = "custom:customer_id"
DEFAULT_OPERATOR_GROUP = "operators"

logger = logging.getLogger("pre_token")
logger.setLevel(logging.INFO)


def binding_claims(attributes: dict[str, Any], groups: list[str]) -> dict[str, str]:
    """The claims one user's access token gets (empty for a user bound to nothing)."""
    if os.environ.get("OPERATOR_GROUP", DEFAULT_OPERATOR_GROUP) in groups:
        return {"role": "operator"}
    customer_id = str(attributes.get(CUSTOMER_ATTRIBUTE, "")).strip()
    return {"role": "customer", "customer_id": customer_id} if customer_id else {}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Add the binding claims to the access and ID tokens; leave everything else as Cognito made it."""
    request = event.get("request") or {}
    groups = (request.get("groupConfiguration") or {}).get("groupsToOverride") or []
    claims = binding_claims(request.get("userAttributes") or {}, list(groups))
    if not claims:
        logger.warning(json.dumps({"message": "user bound to no customer", "user": event.get("userName")}))
        return event
    override = {"claimsToAddOrOverride": claims}
    event.setdefault("response", {})["claimsAndScopeOverrideDetails"] = {
        "accessTokenGeneration": override,
        "idTokenGeneration": override,
    }
    return event
