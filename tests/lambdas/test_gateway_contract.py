"""The AgentCore Gateway -> Lambda contract every tool function shares (gateway_tool.router)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from gateway_tool import load_tools

from local.lambda_context import ClientContext, gateway_context, load_handler
from tests.doubles.callers import as_caller
from tests.lambdas.conftest import function_dirs

pytestmark = pytest.mark.usefixtures("tables")

ALL_TOOLS = [
    (directory, spec) for directory in function_dirs() for spec in load_tools(directory / "tools.json")
]
IDS = [f"{d.name}___{s.name}" for d, s in ALL_TOOLS]
WRONG_VALUE = {
    "string": 12,
    "integer": "twelve",
    "number": "twelve",
    "boolean": "yes",
    "array": "x",
    "object": "x",
}


def valid_value(prop: dict[str, Any]) -> Any:
    """A value that satisfies one property schema (to isolate the one field a test breaks)."""
    if "enum" in prop:
        return prop["enum"][0]
    return {"string": "x", "integer": prop.get("minimum", 1), "number": 1, "boolean": True}[prop["type"]]


def handler(function_dir: Path) -> ModuleType:
    return load_handler(function_dir)


@pytest.mark.parametrize(("function_dir", "spec"), ALL_TOOLS, ids=IDS)
def test_every_tool_refuses_unknown_fields(function_dir: Path, spec: Any) -> None:
    result = handler(function_dir).lambda_handler(
        {"made_up": 1}, gateway_context(function_dir.name, spec.name)
    )
    error = result["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    if spec.input_schema.get("required"):
        assert "missing required field(s)" in error["message"]
    else:
        assert error["field"] == "made_up"
        assert "unknown field(s) ['made_up']" in error["message"]


@pytest.mark.parametrize(("function_dir", "spec"), ALL_TOOLS, ids=IDS)
def test_every_tool_names_a_field_of_the_wrong_type(function_dir: Path, spec: Any) -> None:
    for name, prop in spec.input_schema["properties"].items():
        properties = spec.input_schema["properties"]
        args = {field: valid_value(properties[field]) for field in spec.input_schema.get("required", [])}
        args[name] = WRONG_VALUE[prop["type"]]
        result = handler(function_dir).lambda_handler(args, gateway_context(function_dir.name, spec.name))
        assert result["error"]["code"] == "INVALID_ARGUMENT"
        assert result["error"]["field"] == name
        assert f"field '{name}' must be of type {prop['type']}" in result["error"]["message"]


def test_enum_violation_lists_the_allowed_values(orders: ModuleType) -> None:
    result = orders.lambda_handler({"status": "LOST"}, gateway_context("orders", "list_orders"))
    assert result["error"]["field"] == "status"
    assert result["error"]["message"] == (
        "field 'status' must be one of ['PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED'],"
        " got 'LOST'"
    )


def test_out_of_range(orders: ModuleType) -> None:
    context = gateway_context("orders", "list_orders")
    result = orders.lambda_handler({"status": "PENDING", "limit": 51}, context)
    assert result["error"]["message"] == "field 'limit' must be <= 50, got 51"


def test_unknown_tool(orders: ModuleType) -> None:
    result = orders.lambda_handler({}, gateway_context("orders", "delete_everything"))
    assert result["error"]["code"] == "UNKNOWN_TOOL"
    assert "cancel_order" in result["error"]["message"]


def test_a_tool_of_another_target_is_unknown_here(orders: ModuleType) -> None:
    result = orders.lambda_handler({"sku": "SKU-1001"}, gateway_context("inventory", "check_stock"))
    assert result["error"]["code"] == "UNKNOWN_TOOL"


def test_missing_prefix(orders: ModuleType) -> None:
    context = gateway_context("orders", "get_order", bedrockAgentCoreToolName="get_order")
    result = orders.lambda_handler({"order_id": "ORD-1001"}, context)
    assert result["error"]["code"] == "INVALID_REQUEST"
    assert "prefix" in result["error"]["message"]


@pytest.mark.parametrize(
    "context",
    [
        gateway_context("orders", "get_order", client_context=None),
        gateway_context("orders", "get_order", client_context=ClientContext(custom=None)),
        gateway_context("orders", "get_order", bedrockAgentCoreToolName=None),
    ],
    ids=["no-client-context", "no-custom", "no-tool-name"],
)
def test_missing_client_context(orders: ModuleType, context: Any) -> None:
    result = orders.lambda_handler({"order_id": "ORD-1001"}, context)
    assert result["error"]["code"] == "INVALID_REQUEST"
    assert "bedrockAgentCoreToolName" in result["error"]["message"]


@pytest.mark.parametrize("event", [None, [], "ORD-1001"])
def test_arguments_must_be_an_object(orders: ModuleType, event: Any) -> None:
    result = orders.lambda_handler(event, gateway_context("orders", "get_order"))
    assert result["error"] == {
        "code": "INVALID_ARGUMENT",
        "message": "arguments must be a JSON object",
        "retryable": False,
    }


def test_missing_table_is_an_internal_error(orders: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_TABLE_NAME", "no-such-table")
    error = orders.lambda_handler(
        as_caller({"order_id": "ORD-1001"}), gateway_context("orders", "get_order")
    )["error"]
    assert error["code"] == "INTERNAL"
    assert error["dependency_error"] == "ResourceNotFoundException"
    assert error["retryable"] is False


def test_unset_table_env_is_an_internal_error(orders: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERS_TABLE_NAME")
    error = orders.lambda_handler(
        as_caller({"order_id": "ORD-1001"}), gateway_context("orders", "get_order")
    )["error"]
    assert error == {
        "code": "INTERNAL",
        "message": "the function is misconfigured: ORDERS_TABLE_NAME is not set",
        "retryable": False,
    }


class FailingClient:
    """Stands in for the DynamoDB client to inject failures moto cannot produce."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def fail(**_kwargs: Any) -> Any:
            raise self.error

        return fail


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (
            ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "GetItem"),
            "UNAVAILABLE",
            True,
        ),
        (ClientError({"Error": {"Code": "AccessDeniedException"}}, "GetItem"), "INTERNAL", False),
        (EndpointConnectionError(endpoint_url="https://dynamodb"), "UNAVAILABLE", True),
        (RuntimeError("bug"), "INTERNAL", False),
    ],
)
def test_dependency_failures_become_structured_errors(
    inventory: ModuleType, monkeypatch: pytest.MonkeyPatch, error: Exception, code: str, retryable: bool
) -> None:
    monkeypatch.setattr(inventory, "dynamodb_client", lambda: FailingClient(error))
    result = inventory.lambda_handler(
        as_caller({"sku": "SKU-1001"}), gateway_context("inventory", "check_stock")
    )
    assert result["error"]["code"] == code
    assert result["error"]["retryable"] is retryable
    assert "bug" not in result["error"]["message"]  # no internals leak to the model


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_logs_carry_gateway_ids_and_metrics_are_flushed(
    orders: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    context = gateway_context("orders", "get_order", bedrockAgentCoreAwsRequestId="req-123")
    logger = orders.router.logger
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    logger.setLevel("INFO")
    try:
        orders.lambda_handler(as_caller({"order_id": "ORD-1001"}), context)
        orders.lambda_handler(as_caller({"order_id": "ORD-0000"}), context)
    finally:
        logger.setLevel("WARNING")
        logger.registered_handler.setStream(previous)
    logs = _json_lines(buffer.getvalue())
    lines = _json_lines(capsys.readouterr().out)
    assert [log["message"] for log in logs] == ["tool call succeeded", "tool call failed"]
    for log in logs:
        assert log["correlation_id"] == "req-123"
        assert log["gateway_request_id"] == "req-123"
        assert log["tool"] == "get_order"
        assert log["gateway_tool_name"] == "orders___get_order"
        assert log["gateway_id"] == context.client_context.custom["bedrockAgentCoreGatewayId"]
        assert log["mcp_message_id"] == context.client_context.custom["bedrockAgentCoreMcpMessageId"]
    assert logs[1]["error_code"] == "NOT_FOUND"
    metrics = [line for line in lines if "_aws" in line]
    assert len(metrics) == 2
    for blob in metrics:
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "AgentCoreTools"
        assert directive["Dimensions"] == [["tool", "service"]]
        assert blob["tool"] == "get_order"
        assert blob["service"] == "orders"
        assert blob["ToolInvocations"] == [1.0]
    assert [blob["ToolErrors"] for blob in metrics] == [[0.0], [1.0]]
    assert metrics[1]["error_code"] == "NOT_FOUND"
