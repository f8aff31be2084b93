"""The gateway's REQUEST interceptor: writes the verified caller into every tool call's arguments.

The gateway's CUSTOM_JWT authorizer has already verified the bearer token's signature, issuer, expiry and
client before it invokes this function (configured with passRequestHeaders), so the claims are read, not
re-verified; issuer, token use, expiry and client are still compared with this stage's, so a
misconfiguration refuses instead of trusting a foreign token. For `tools/call` of a target's tool the
reserved `caller` argument is replaced by `{sub, role[, customer_id]}` derived from the claims, whatever the
model put there. A token that maps to no caller (a user not bound to a customer, an unknown client) gets a
PERMISSION_DENIED tool error straight from here, and the target is never called. Other MCP methods and the
gateway's own search tool pass through unchanged.

Event and response: the gateway interceptor contract, version 1.0 (devguide "Types of interceptors").
Environment: TOKEN_ISSUER, USER_CLIENT_IDS and MACHINE_CLIENT_IDS (comma-separated).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

SEPARATOR = "___"
CALLER_ARGUMENT = "caller"
OUTPUT_VERSION = "1.0"

logger = logging.getLogger("interceptor")
logger.setLevel(logging.INFO)


class Refusal(Exception):
    """The call may not proceed; the message is safe to show the model (no token, no claim values)."""


@dataclass(frozen=True)
class Settings:
    """Whose tokens this stage's gateway serves."""

    issuer: str
    user_clients: frozenset[str]
    machine_clients: frozenset[str]

    @classmethod
    def from_env(cls) -> Settings:
        def ids(name: str) -> frozenset[str]:
            return frozenset(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())

        return cls(os.environ.get("TOKEN_ISSUER", ""), ids("USER_CLIENT_IDS"), ids("MACHINE_CLIENT_IDS"))


def _header(headers: Any, name: str) -> str:
    """A header value, matched case-insensitively (HTTP header names are)."""
    if not isinstance(headers, dict):
        return ""
    return next((str(value) for key, value in headers.items() if str(key).lower() == name.lower()), "")


def token_claims(headers: Any, settings: Settings) -> dict[str, Any]:
    """The claims of the already verified bearer token, after checking they are this stage's."""
    scheme, _, token = _header(headers, "Authorization").partition(" ")
    parts = token.split(".")
    if scheme.lower() != "bearer" or len(parts) != 3:
        raise Refusal("no bearer token reached the interceptor (is passRequestHeaders on?)")
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError) as exc:
        raise Refusal("the bearer token is not a JWT") from exc
    if not isinstance(claims, dict):
        raise Refusal("the bearer token is not a JWT")
    if not settings.issuer or claims.get("iss") != settings.issuer or claims.get("token_use") != "access":
        raise Refusal("the token is not an access token of this stage's user pool")
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= time.time():
        raise Refusal("the token has expired")
    return claims


def caller_from(claims: dict[str, Any], settings: Settings) -> dict[str, str]:
    """The verified caller: the agent's machine client, an operator, or a customer bound to a customer id."""
    client_id, sub = claims.get("client_id"), str(claims.get("sub", ""))
    if not sub:
        raise Refusal("the token has no subject")
    if client_id in settings.machine_clients:
        return {"sub": sub, "role": "service"}
    if client_id not in settings.user_clients:
        raise Refusal("the token was issued to a client this gateway does not serve")
    if claims.get("role") == "operator":
        return {"sub": sub, "role": "operator"}
    customer_id = claims.get("customer_id")
    if claims.get("role") == "customer" and isinstance(customer_id, str) and customer_id:
        return {"sub": sub, "role": "customer", "customer_id": customer_id}
    raise Refusal("the signed-in user is not linked to a customer; an administrator must link the account")


def _forward(body: dict[str, Any]) -> dict[str, Any]:
    return {"interceptorOutputVersion": OUTPUT_VERSION, "mcp": {"transformedGatewayRequest": {"body": body}}}


def _refuse(request_id: Any, message: str) -> dict[str, Any]:
    """A tool error answered by the gateway itself (the target is not called)."""
    error = {"error": {"code": "PERMISSION_DENIED", "message": message, "retryable": False}}
    result = {"isError": True, "content": [{"type": "text", "text": json.dumps(error)}]}
    body = {"jsonrpc": "2.0", "id": request_id, "result": result}
    return {
        "interceptorOutputVersion": OUTPUT_VERSION,
        "mcp": {"transformedGatewayResponse": {"statusCode": 200, "body": body}},
    }


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point: `intercept` with this stage's settings from the environment."""
    return intercept(event, Settings.from_env())


def intercept(event: Any, settings: Settings) -> dict[str, Any]:
    """Rewrite a target tool call with the verified caller; refuse it when there is none."""
    request = event.get("mcp", {}).get("gatewayRequest") if isinstance(event, dict) else None
    body = request.get("body") if isinstance(request, dict) else None
    if not isinstance(body, dict):
        logger.warning(json.dumps({"message": "refused: not a gateway MCP request"}))
        return _refuse(None, "the gateway request could not be read")
    params = body.get("params")
    tool = params.get("name") if isinstance(params, dict) else None
    if body.get("method") != "tools/call" or not isinstance(tool, str) or SEPARATOR not in tool:
        return _forward(body)
    try:
        caller = caller_from(token_claims(request.get("headers"), settings), settings)
    except Refusal as refusal:
        logger.warning(json.dumps({"message": "tool call refused", "tool": tool, "reason": str(refusal)}))
        return _refuse(body.get("id"), str(refusal))
    arguments = params.get("arguments", {})
    if not isinstance(arguments, dict):
        return _forward(body)  # the function refuses arguments that are not an object, caller or not
    arguments = {**arguments, CALLER_ARGUMENT: caller}
    logger.info(json.dumps({"message": "tool call attributed", "tool": tool, **_log_keys(caller)}))
    return _forward({**body, "params": {**params, "arguments": arguments}})


def _log_keys(caller: dict[str, str]) -> dict[str, str]:
    return {f"caller_{key}": value for key, value in caller.items()}
