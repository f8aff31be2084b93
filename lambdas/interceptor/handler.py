"""The gateway's interceptor: writes the verified caller into every tool call, and flags tool errors.

REQUEST (before the target). The gateway's CUSTOM_JWT authorizer has already verified the bearer token's
signature, issuer, expiry and client before it invokes this function (configured with passRequestHeaders),
so the claims are read, not re-verified; issuer, token use, expiry and client are still compared with this
stage's, so a misconfiguration refuses instead of trusting a foreign token. For `tools/call` of a target's
tool the reserved `caller` argument is replaced by `{sub, role[, customer_id]}` derived from the claims,
whatever the model put there. A token that maps to no caller (a user not bound to a customer, an unknown
client) gets a PERMISSION_DENIED tool error straight from here, and the target is never called.

Fail closed: nobody knows every shape the deployed gateway passes on, so what this function cannot classify
is refused, never passed on unchanged. A body is classified by its exact `method`: `tools/call` of
`<target>___<tool>` (one separator, names as CloudFormation and tools.json allow them) is attributed, of the
gateway's search tool forwarded; the other MCP methods of the gateway (devguide "Use an AgentCore gateway")
and notifications are forwarded; any other method (`"tools/call "`, `"TOOLS/CALL"`, not a string) is refused
with a JSON-RPC error, and a tool call whose name or arguments have another shape with a tool error. Whatever
is forwarded carries no `caller` this function did not write. More than one `Authorization` header (names
differ only in case) is refused: which one the authorizer verified is unknown.

RESPONSE (after the target). A tool function reports a refusal or failure as its result `{"error": {code,
message, retryable}}` (gateway_tool.errors), which the gateway returns as text content with `isError` false.
Flagged here `isError: true`, as the refusals of this interceptor and of the gateway's policies are, because
MCP clients and models take the flag as the signal. The gateway must list this function as its RESPONSE
interceptor too (`LambdaInterceptor.for_response`); headers are not needed there.

Event and response: the gateway interceptor contract, version 1.0 (devguide "Types of interceptors"); a
RESPONSE event carries `mcp.gatewayResponse`. Environment: TOKEN_ISSUER, USER_CLIENT_IDS and
MACHINE_CLIENT_IDS (comma-separated).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any

SEPARATOR = "___"
CALLER_ARGUMENT = "caller"
OUTPUT_VERSION = "1.0"
SEARCH_TOOL_NAME = "x_amz_bedrock_agentcore_search"
TARGET_TOOL = re.compile(r"(?:[0-9a-zA-Z]-?){1,100}___[a-zA-Z][a-zA-Z0-9_]{0,63}")
"""`<target>___<tool>`: the GatewayTarget Name pattern, the separator, a tools.json tool name."""
FORWARDED_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "completion/complete",
        "logging/setLevel",
    }
)
"""MCP methods other than tools/call that pass on (any `caller` argument removed); `notifications/*` too."""
INVALID_REQUEST = -32600  # JSON-RPC 2.0

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
    """The one value of a header, matched case-insensitively (HTTP header names are); "" if absent.

    Two headers whose names differ only in case are refused: the authorizer verified one of them, and which
    one is not known here.
    """
    if not isinstance(headers, dict):
        return ""
    values = [value for key, value in headers.items() if str(key).lower() == name.lower()]
    if len(values) > 1:
        raise Refusal(f"the request has {len(values)} {name} headers; send exactly one")
    if values and not isinstance(values[0], str):
        raise Refusal(f"the {name} header is not one text value")
    return values[0] if values else ""


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


def _answer(body: dict[str, Any]) -> dict[str, Any]:
    """A response the gateway returns itself (the target is not called)."""
    return {
        "interceptorOutputVersion": OUTPUT_VERSION,
        "mcp": {"transformedGatewayResponse": {"statusCode": 200, "body": body}},
    }


def _refuse(request_id: Any, message: str, code: str = "PERMISSION_DENIED") -> dict[str, Any]:
    """A tool error answered by the gateway itself."""
    error = {"error": {"code": code, "message": message, "retryable": False}}
    result = {"isError": True, "content": [{"type": "text", "text": json.dumps(error)}]}
    return _answer({"jsonrpc": "2.0", "id": request_id, "result": result})


def _reject(request_id: Any, message: str) -> dict[str, Any]:
    """A JSON-RPC error for a request that is no tool call this function can classify."""
    return _answer(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": INVALID_REQUEST, "message": message}}
    )


def _without_caller(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with no `caller` in `params.arguments` (only this function writes one)."""
    params = body.get("params")
    arguments = params.get("arguments") if isinstance(params, dict) else None
    if not isinstance(arguments, dict) or CALLER_ARGUMENT not in arguments:
        return body
    arguments = {key: value for key, value in arguments.items() if key != CALLER_ARGUMENT}
    return {**body, "params": {**params, "arguments": arguments}}


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point for both interception points (a RESPONSE event carries `gatewayResponse`)."""
    mcp = event.get("mcp") if isinstance(event, dict) else None
    if isinstance(mcp, dict) and "gatewayResponse" in mcp:
        return flag_tool_errors(mcp["gatewayResponse"])
    return intercept(event, Settings.from_env())


def intercept(event: Any, settings: Settings) -> dict[str, Any]:
    """Rewrite a target tool call with the verified caller; refuse it when there is none, and refuse what
    cannot be classified."""
    request = event.get("mcp", {}).get("gatewayRequest") if isinstance(event, dict) else None
    body = request.get("body") if isinstance(request, dict) else None
    if not isinstance(body, dict):
        logger.warning(json.dumps({"message": "refused: not a gateway MCP request"}))
        return _refuse(None, "the gateway request could not be read", "INVALID_REQUEST")
    method, request_id = body.get("method"), body.get("id")
    if method != "tools/call":
        if "method" not in body and ("result" in body or "error" in body):
            return _forward(body)  # the client's answer to a request of the gateway's: no arguments
        if isinstance(method, str) and (method in FORWARDED_METHODS or method.startswith("notifications/")):
            return _forward(_without_caller(body))
        logger.warning(json.dumps({"message": "refused: unknown method", "method": repr(method)[:80]}))
        return _reject(request_id, f"method {str(method)[:80]!r} is not one this gateway serves")
    params = body.get("params")
    tool = params.get("name") if isinstance(params, dict) else None
    arguments = params.get("arguments", {}) if isinstance(params, dict) else None
    if not isinstance(tool, str) or not isinstance(arguments, dict):
        logger.warning(json.dumps({"message": "refused: malformed tool call"}))
        return _refuse(
            request_id, "a tool call needs a tool name and an object of arguments", "INVALID_REQUEST"
        )
    if tool == SEARCH_TOOL_NAME:
        return _forward(_without_caller(body))
    if not TARGET_TOOL.fullmatch(tool) or tool.count(SEPARATOR) != 1:
        logger.warning(json.dumps({"message": "refused: unknown tool name", "tool": tool[:160]}))
        return _refuse(request_id, f"no tool named {tool[:160]!r} is served here", "INVALID_REQUEST")
    try:
        caller = caller_from(token_claims(request.get("headers"), settings), settings)
    except Refusal as refusal:
        logger.warning(json.dumps({"message": "tool call refused", "tool": tool, "reason": str(refusal)}))
        return _refuse(request_id, str(refusal))
    arguments = {**arguments, CALLER_ARGUMENT: caller}
    logger.info(json.dumps({"message": "tool call attributed", "tool": tool, **_log_keys(caller)}))
    return _forward({**body, "params": {**params, "arguments": arguments}})


def _log_keys(caller: dict[str, str]) -> dict[str, str]:
    return {f"caller_{key}": value for key, value in caller.items()}


def _tool_error(result: dict[str, Any]) -> bool:
    """True for a tool result whose content is a tool function's `{"error": {"code", "message", ...}}`."""
    content = result.get("content")
    blocks = content if isinstance(content, list) else []
    for block in blocks:
        if (
            not isinstance(block, dict)
            or block.get("type") != "text"
            or not isinstance(block.get("text"), str)
        ):
            continue
        try:
            data = json.loads(block["text"])
        except ValueError:
            continue
        error = data.get("error") if isinstance(data, dict) else None
        if (
            isinstance(error, dict)
            and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)
        ):
            return True
    return False


def flag_tool_errors(response: Any) -> dict[str, Any]:
    """The RESPONSE interception: the gateway's response, with `isError: true` on a tool function's error."""
    if not isinstance(response, dict):
        return _answer({"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": "no response"}})
    body = response.get("body")
    result = body.get("result") if isinstance(body, dict) else None
    if isinstance(result, dict) and result.get("isError") is not True and _tool_error(result):
        response = {**response, "body": {**body, "result": {**result, "isError": True}}}
    return {"interceptorOutputVersion": OUTPUT_VERSION, "mcp": {"transformedGatewayResponse": response}}
