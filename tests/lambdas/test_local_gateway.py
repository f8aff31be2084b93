"""The gateway double over real streamable HTTP with the mcp SDK client, calling the real handlers."""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

from local.gateway import SEARCH_TOOL_NAME, StaticToken, running_gateway

TOKEN = "test-token"


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    with running_gateway(bearer_token=TOKEN) as url:
        yield url


async def _session_call(url: str, action: str, *args: Any) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        streamablehttp_client(url, headers=headers) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await getattr(session, action)(*args)


def run(url: str, action: str, *args: Any) -> Any:
    return anyio.run(_session_call, url, action, *args)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", TOKEN])
def test_requests_without_the_bearer_token_get_401(gateway_url: str, authorization: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if authorization:
        headers["Authorization"] = authorization
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    response = httpx.post(gateway_url, json=body, headers=headers)
    assert response.status_code == 401


def test_a_call_is_answered_with_one_json_response_like_the_non_streaming_gateway(gateway_url: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call"}
    body["params"] = {"name": SEARCH_TOOL_NAME, "arguments": {"query": "order status"}}
    response = httpx.post(gateway_url, json=body, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["id"] == 7 and "orders___get_order" in answer["result"]["content"][0]["text"]


def test_a_call_does_not_read_package_metadata(gateway_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stateless MCP server builds its initialize options per request; without a server version it
    reads the SDK's package metadata (~2 ms of the gateway's event loop) every time."""
    read: list[str] = []
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: read.append(name) or real_version(name))
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 8, "method": "tools/list"}
    assert httpx.post(gateway_url, json=body, headers=headers).status_code == 200
    assert read == []


def test_a_tool_call_verifies_the_token_once(gateway_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The authorizer middleware hands its verified claims to the tool call: no second verification."""
    verified: list[str] = []
    real_verify = StaticToken.verify
    monkeypatch.setattr(
        StaticToken, "verify", lambda self, token: verified.append(token) or real_verify(self, token)
    )
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 9, "method": "tools/call"}
    body["params"] = {"name": SEARCH_TOOL_NAME, "arguments": {"query": "order status"}}
    answer = httpx.post(gateway_url, json=body, headers=headers).json()
    assert "orders___get_order" in answer["result"]["content"][0]["text"]
    assert verified == [TOKEN]


def test_list_tools_shows_prefixed_names_with_gateway_schemas(gateway_url: str) -> None:
    tools = {tool.name: tool for tool in run(gateway_url, "list_tools").tools}
    assert set(tools) == {
        "orders___get_order",
        "orders___list_orders",
        "orders___update_order_status",
        "orders___cancel_order",
        "inventory___search_products",
        "inventory___check_stock",
        "inventory___reserve_stock",
        "inventory___release_stock",
        SEARCH_TOOL_NAME,
    }
    schema = tools["orders___update_order_status"].inputSchema
    assert schema["required"] == ["order_id", "status"]
    assert "enum" not in schema["properties"]["status"]  # projected like the deployed gateway target


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("where is my order", "orders___get_order"),
        ("cancel an order", "orders___cancel_order"),
        ("is this product in stock", "inventory___check_stock"),
        ("find a waterproof jacket product", "inventory___search_products"),
    ],
)
def test_search_returns_the_relevant_tool(gateway_url: str, query: str, expected: str) -> None:
    result = run(gateway_url, "call_tool", SEARCH_TOOL_NAME, {"query": query})
    assert not result.isError
    found = result.structuredContent["tools"]
    assert json.loads(result.content[0].text) == {"tools": found}
    assert expected in [tool["name"] for tool in found[:3]], [tool["name"] for tool in found]
    assert {"name", "description", "inputSchema"} <= set(found[0])


@pytest.mark.usefixtures("tables")
def test_calling_a_tool_reaches_the_real_handler(gateway_url: str) -> None:
    result = run(gateway_url, "call_tool", "orders___get_order", {"order_id": "ORD-1002"})
    assert not result.isError
    assert json.loads(result.content[0].text)["order"]["status"] == "SHIPPED"
    ship = {"order_id": "ORD-1005", "status": "SHIPPED"}
    refused = run(gateway_url, "call_tool", "orders___update_order_status", ship)
    assert json.loads(refused.content[0].text)["error"]["code"] == "FAILED_PRECONDITION"
    assert refused.isError  # as the interceptor's and the policies' refusals are
    stock = run(gateway_url, "call_tool", "inventory___check_stock", {"sku": "SKU-3001"})
    assert json.loads(stock.content[0].text)["available"] == 5


@pytest.mark.usefixtures("tables")
@pytest.mark.parametrize(
    ("tool", "arguments", "code"),
    [
        ("orders___get_order", {"order_id": "ORD-0000"}, "NOT_FOUND"),
        ("inventory___reserve_stock", {"sku": "SKU-4003", "quantity": 1}, "FAILED_PRECONDITION"),
        ("inventory___reserve_stock", {"sku": "SKU-1001", "quantity": 101}, "INVALID_ARGUMENT"),
    ],
)
def test_every_refusal_of_a_handler_comes_back_flagged_as_an_error(
    gateway_url: str, tool: str, arguments: dict[str, Any], code: str
) -> None:
    result = run(gateway_url, "call_tool", tool, arguments)
    assert result.isError is True
    assert json.loads(result.content[0].text)["error"]["code"] == code
