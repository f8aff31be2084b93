"""The interceptor. REQUEST: the verified token, never the model, decides the `caller` of a tool call, and
what cannot be classified is refused. RESPONSE: a tool function's error comes back with `isError: true`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from local.lambda_context import LAMBDAS_DIR, load_handler
from local.oidc_issuer import OidcIssuer

USER_CLIENT, M2M_CLIENT = "user-client", "m2m-client"


@pytest.fixture(scope="module")
def interceptor() -> ModuleType:
    return load_handler(LAMBDAS_DIR / "interceptor")


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    yield OidcIssuer()  # minting only: the interceptor never fetches keys


@pytest.fixture(autouse=True)
def stage_env(monkeypatch: pytest.MonkeyPatch, issuer: OidcIssuer) -> None:
    monkeypatch.setenv("TOKEN_ISSUER", issuer.issuer)
    monkeypatch.setenv("USER_CLIENT_IDS", USER_CLIENT)
    monkeypatch.setenv("MACHINE_CLIENT_IDS", M2M_CLIENT)


def event(token: str | None, body: dict[str, Any], header: str = "Authorization") -> dict[str, Any]:
    """The interceptor input of the gateway contract (version 1.0), headers passed."""
    headers = {"Accept": "application/json", "Mcp-Session-Id": "s-1"}
    if token is not None:
        headers[header] = f"Bearer {token}"
    raw = {"body": json.dumps(body)}
    return {
        "interceptorInputVersion": "1.0",
        "mcp": {
            "rawGatewayRequest": raw,
            "gatewayRequest": {"path": "/mcp", "httpMethod": "POST", "headers": headers, "body": body},
        },
    }


def tool_call(name: str, arguments: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def forwarded(result: dict[str, Any]) -> dict[str, Any]:
    assert result["interceptorOutputVersion"] == "1.0"
    assert "transformedGatewayResponse" not in result["mcp"]
    return result["mcp"]["transformedGatewayRequest"]["body"]


def refusal(result: dict[str, Any], code: str = "PERMISSION_DENIED") -> str:
    response = result["mcp"]["transformedGatewayResponse"]
    assert response["statusCode"] == 200 and "transformedGatewayRequest" not in result["mcp"]
    assert response["body"]["result"]["isError"] is True
    error = json.loads(response["body"]["result"]["content"][0]["text"])["error"]
    assert error["code"] == code
    return error["message"]


def rejection(result: dict[str, Any]) -> str:
    """A JSON-RPC error answered by the gateway itself (nothing forwarded)."""
    response = result["mcp"]["transformedGatewayResponse"]
    assert "transformedGatewayRequest" not in result["mcp"]
    assert response["body"]["error"]["code"] == -32600
    return response["body"]["error"]["message"]


def customer_token(issuer: OidcIssuer, customer_id: str = "CUST-001", **claims: Any) -> str:
    return issuer.mint(sub="sub-a", client_id=USER_CLIENT, role="customer", customer_id=customer_id, **claims)


def test_a_forged_caller_is_replaced_by_the_verified_one(interceptor: ModuleType, issuer: OidcIssuer) -> None:
    forged = {"sub": "sub-op", "role": "operator"}
    body = tool_call("orders___get_order", {"order_id": "ORD-1004", "caller": forged})
    out = forwarded(interceptor.lambda_handler(event(customer_token(issuer), body), None))
    assert out["params"]["arguments"] == {
        "order_id": "ORD-1004",
        "caller": {"sub": "sub-a", "role": "customer", "customer_id": "CUST-001"},
    }
    assert (out["id"], out["method"], out["params"]["name"]) == (7, "tools/call", "orders___get_order")


def test_an_operator_and_the_machine_identity(interceptor: ModuleType, issuer: OidcIssuer) -> None:
    body = tool_call("orders___list_orders", {"status": "PENDING"})
    operator = issuer.mint(sub="sub-op", client_id=USER_CLIENT, role="operator")
    assert forwarded(interceptor.lambda_handler(event(operator, body), None))["params"]["arguments"][
        "caller"
    ] == {"sub": "sub-op", "role": "operator"}
    m2m = issuer.mint(sub=M2M_CLIENT, client_id=M2M_CLIENT, role="operator")  # a role claim changes nothing
    caller = forwarded(interceptor.lambda_handler(event(m2m, body), None))["params"]["arguments"]["caller"]
    assert caller == {"sub": M2M_CLIENT, "role": "service"}


def test_the_header_name_is_case_insensitive(interceptor: ModuleType, issuer: OidcIssuer) -> None:
    body = tool_call("inventory___check_stock", {"sku": "SKU-1"})
    result = interceptor.lambda_handler(event(customer_token(issuer), body, header="authorization"), None)
    assert forwarded(result)["params"]["arguments"]["caller"]["customer_id"] == "CUST-001"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda issuer: None, "no bearer token"),
        (lambda issuer: "opaque-token", "no bearer token"),
        (lambda issuer: "a.!!!.c", "not a JWT"),
        (lambda issuer: issuer.mint(client_id=USER_CLIENT), "not linked to a customer"),
        (lambda issuer: issuer.mint(client_id=USER_CLIENT, role="customer"), "not linked to a customer"),
        (lambda issuer: issuer.mint(client_id="someone-else", role="operator"), "client this gateway"),
        (lambda issuer: issuer.mint(client_id=USER_CLIENT, token_use="id"), "not an access token"),
        (lambda issuer: issuer.mint(client_id=USER_CLIENT, issuer="https://evil"), "not an access token"),
        (lambda issuer: issuer.mint(client_id=USER_CLIENT, expires_in=-10), "expired"),
    ],
    ids=["none", "opaque", "garbled", "unbound", "no-customer", "client", "id-token", "issuer", "expired"],
)
def test_no_verified_caller_means_the_target_is_not_called(
    interceptor: ModuleType, issuer: OidcIssuer, make_token: Any, reason: str
) -> None:
    body = tool_call("orders___get_order", {"order_id": "ORD-1001"})
    result = interceptor.lambda_handler(event(make_token(issuer), body), None)
    assert reason in refusal(result)
    assert result["mcp"]["transformedGatewayResponse"]["body"]["id"] == 7


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
        tool_call("x_amz_bedrock_agentcore_search", {"query": "orders"}),
    ],
    ids=["tools-list", "initialize", "search"],
)
def test_everything_else_passes_through_unchanged(interceptor: ModuleType, body: dict[str, Any]) -> None:
    assert forwarded(interceptor.lambda_handler(event(None, body), None)) == body


@pytest.mark.parametrize("arguments", ["ORD-1001", ["ORD-1001"], None, 7])
def test_arguments_that_are_no_object_are_refused(
    interceptor: ModuleType, issuer: OidcIssuer, arguments: Any
) -> None:
    body = tool_call("orders___get_order", arguments)
    result = interceptor.lambda_handler(event(customer_token(issuer), body), None)
    assert "object of arguments" in refusal(result, "INVALID_REQUEST")


@pytest.mark.parametrize("bad", [None, {}, {"mcp": {}}, {"mcp": {"gatewayRequest": {"body": "x"}}}])
def test_an_unreadable_event_is_refused(interceptor: ModuleType, bad: Any) -> None:
    assert "could not be read" in refusal(interceptor.lambda_handler(bad, None), "INVALID_REQUEST")


EVIL = {"sub": "evil", "role": "operator"}


@pytest.mark.parametrize(
    "method",
    ["tools/call ", "TOOLS/CALL", " tools/call", "tools/Call", "tools/invoke", 5, None, ["tools/call"]],
)
def test_a_method_it_cannot_classify_is_refused(
    interceptor: ModuleType, issuer: OidcIssuer, method: Any
) -> None:
    body = {**tool_call("orders___get_order", {"order_id": "ORD-1004", "caller": EVIL}), "method": method}
    assert "not one this gateway serves" in rejection(
        interceptor.lambda_handler(event(customer_token(issuer), body), None)
    )


def test_a_body_without_a_method_is_refused(interceptor: ModuleType, issuer: OidcIssuer) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "params": {"name": "orders___get_order", "arguments": {"caller": EVIL}},
    }
    assert rejection(interceptor.lambda_handler(event(customer_token(issuer), body), None))


@pytest.mark.parametrize(
    "name",
    [
        ["orders___get_order"],
        {"name": "orders___get_order"},
        None,
        "get_order",
        "orders__get_order",
        "orders___get_order ",
        " orders___get_order",
        "orders___get_order___x",
        "orders______get_order",
        "___get_order",
        "orders___",
        "or ders___get_order",
    ],
)
def test_a_tool_name_it_cannot_classify_is_refused(
    interceptor: ModuleType, issuer: OidcIssuer, name: Any
) -> None:
    body = tool_call("placeholder", {"order_id": "ORD-1004", "caller": EVIL})
    body["params"]["name"] = name
    result = interceptor.lambda_handler(event(customer_token(issuer), body), None)
    refusal(result, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "body",
    [
        tool_call("x_amz_bedrock_agentcore_search", {"query": "orders", "caller": EVIL}),
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "prompts/get",
            "params": {"name": "p", "arguments": {"caller": EVIL}},
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized", "params": {"arguments": {"caller": EVIL}}},
    ],
    ids=["search", "prompts-get", "notification"],
)
def test_a_forwarded_body_carries_no_caller_it_did_not_write(
    interceptor: ModuleType, body: dict[str, Any]
) -> None:
    out = forwarded(interceptor.lambda_handler(event(None, body), None))
    assert "caller" not in out["params"]["arguments"]
    assert out["method"] == body["method"]


def test_a_clients_answer_passes(interceptor: ModuleType) -> None:
    body = {"jsonrpc": "2.0", "id": 3, "result": {"action": "accept"}}
    assert forwarded(interceptor.lambda_handler(event(None, body), None)) == body


@pytest.mark.parametrize("order", ["signed-first", "unsigned-first"])
def test_two_authorization_headers_are_refused(
    interceptor: ModuleType, issuer: OidcIssuer, order: str
) -> None:
    signed = f"Bearer {customer_token(issuer)}"
    unsigned = (
        "Bearer "
        + ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
            for part in ({"alg": "none"}, {"sub": "evil", "role": "operator", "client_id": USER_CLIENT})
        )
        + "."
    )
    headers = [("Authorization", signed), ("authorization", unsigned)]
    if order == "unsigned-first":
        headers.reverse()
    request = event(None, tool_call("orders___get_order", {"order_id": "ORD-1004"}))
    request["mcp"]["gatewayRequest"]["headers"].update(headers)
    assert "2 Authorization headers" in refusal(interceptor.lambda_handler(request, None))


def test_an_authorization_header_that_is_no_text_is_refused(
    interceptor: ModuleType, issuer: OidcIssuer
) -> None:
    request = event(None, tool_call("orders___get_order", {"order_id": "ORD-1004"}))
    request["mcp"]["gatewayRequest"]["headers"]["Authorization"] = [f"Bearer {customer_token(issuer)}"]
    assert "not one text value" in refusal(interceptor.lambda_handler(request, None))


def response_event(result: dict[str, Any]) -> dict[str, Any]:
    """A RESPONSE interceptor input: the gateway's response to a tool call."""
    body = {"jsonrpc": "2.0", "id": 7, "result": result}
    return {
        "interceptorInputVersion": "1.0",
        "mcp": {
            "gatewayRequest": {"body": tool_call("orders___get_order", {"order_id": "ORD-1004"})},
            "gatewayResponse": {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "body": body,
            },
        },
    }


def text_result(data: Any, **extra: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": json.dumps(data)}], **extra}


def test_a_tool_functions_error_comes_back_flagged(interceptor: ModuleType) -> None:
    error = {"error": {"code": "PERMISSION_DENIED", "message": "not yours", "retryable": False}}
    out = interceptor.lambda_handler(response_event(text_result(error, isError=False)), None)
    response = out["mcp"]["transformedGatewayResponse"]
    assert response["statusCode"] == 200 and response["headers"] == {"Content-Type": "application/json"}
    assert response["body"]["result"] == text_result(error, isError=True)
    assert response["body"]["id"] == 7


@pytest.mark.parametrize(
    "result",
    [
        text_result({"order": {"order_id": "ORD-1001", "error": "a field named error"}}, isError=False),
        text_result({"error": "just text"}),
        {"content": [{"type": "text", "text": "not json"}]},
        {"tools": [{"name": "orders___get_order"}]},
        text_result({"error": {"code": "INTERNAL", "message": "x"}}, isError=True),
    ],
    ids=["success", "error-string", "plain-text", "tools-list", "already-flagged"],
)
def test_every_other_response_passes_unchanged(interceptor: ModuleType, result: dict[str, Any]) -> None:
    incoming = response_event(result)
    out = interceptor.lambda_handler(incoming, None)
    assert out == {
        "interceptorOutputVersion": "1.0",
        "mcp": {"transformedGatewayResponse": incoming["mcp"]["gatewayResponse"]},
    }
