"""tools.json is the single source of each function's tools: check it, its projection, and handler parity."""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal
from pathlib import Path

import botocore.session
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.validate import ParamValidator
from gateway_tool import ToolSchemaError, gateway_tool_definitions, load_tools, strip_prefix
from gateway_tool.dynamodb import batch_write_request, load_seed, marshal_item, unmarshal_item
from gateway_tool.router import ToolRouter
from gateway_tool.schema import GATEWAY_KEYWORDS, MAX_SCHEMA_BYTES, TOOL_NAME_PATTERN
from jsonschema import Draft202012Validator

from local.lambda_context import LAMBDAS_DIR, load_handler
from tests.lambdas.conftest import function_dirs

FUNCTIONS = function_dirs()
TARGET_NAME = r"^([0-9a-zA-Z][-]?){1,100}$"  # CreateGatewayTarget `name` pattern (botocore model)
CONVERSE_TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"  # what the agent's model (Bedrock Converse) accepts


def test_both_functions_are_discovered() -> None:
    assert [path.name for path in FUNCTIONS] == ["inventory", "orders"]


@pytest.mark.parametrize("function_dir", FUNCTIONS, ids=lambda p: p.name)
def test_handler_implements_exactly_the_declared_tools(function_dir: Path) -> None:
    module = load_handler(function_dir)
    declared = {spec.name for spec in load_tools(function_dir / "tools.json")}
    assert module.router.implemented == declared
    assert set(module.router.specs) == declared


@pytest.mark.parametrize("function_dir", FUNCTIONS, ids=lambda p: p.name)
def test_tools_json_is_valid_and_model_friendly(function_dir: Path) -> None:
    raw = (function_dir / "tools.json").read_bytes()
    assert len(raw) < MAX_SCHEMA_BYTES
    assert re.fullmatch(TARGET_NAME, function_dir.name)
    for tool in json.loads(raw):
        assert TOOL_NAME_PATTERN.fullmatch(tool["name"])
        assert "___" not in tool["name"]
        assert re.fullmatch(CONVERSE_TOOL_NAME, f"{function_dir.name}___{tool['name']}")
        assert len(tool["description"]) >= 120, f"{tool['name']}: say when to use it and what it returns"
        assert "Returns" in tool["description"], f"{tool['name']}: describe the result"
        Draft202012Validator.check_schema(tool["inputSchema"])
        assert tool["inputSchema"]["type"] == "object"
        assert tool["inputSchema"]["additionalProperties"] is False
        for name, prop in tool["inputSchema"]["properties"].items():
            assert prop.get("description"), f"{tool['name']}.{name} needs a description"
            if "default" in prop:
                Draft202012Validator(prop).validate(prop["default"])


def _keywords(schema: dict) -> set[str]:
    found = set(schema)
    for sub in schema.get("properties", {}).values():
        found |= _keywords(sub)
    if "items" in schema:
        found |= _keywords(schema["items"])
    return found


@pytest.mark.parametrize("function_dir", FUNCTIONS, ids=lambda p: p.name)
def test_gateway_projection_is_accepted_by_the_create_gateway_target_api(function_dir: Path) -> None:
    """cfn-lint cannot see inside the ToolSchema oneOf: validate against the service model instead."""
    definitions = gateway_tool_definitions(load_tools(function_dir / "tools.json"))
    for definition in definitions:
        assert _keywords(definition["inputSchema"]) <= GATEWAY_KEYWORDS
        Draft202012Validator.check_schema(definition["inputSchema"])
    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    params = {
        "gatewayIdentifier": "gateway-abcdefghij",
        "name": function_dir.name,
        "targetConfiguration": {
            "mcp": {
                "lambda": {
                    "lambdaArn": f"arn:aws:lambda:us-east-1:123456789012:function:{function_dir.name}",
                    "toolSchema": {"inlinePayload": definitions},
                }
            }
        },
        "credentialProviderConfigurations": [{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
    }
    report = ParamValidator().validate(params, model.operation_model("CreateGatewayTarget").input_shape)
    assert not report.has_errors(), report.generate_report()
    assert len(json.dumps(definitions).encode()) < MAX_SCHEMA_BYTES


def test_projection_keeps_constraints_readable_for_the_model() -> None:
    (update,) = [
        d
        for d in gateway_tool_definitions(load_tools(LAMBDAS_DIR / "orders" / "tools.json"))
        if d["name"] == "update_order_status"
    ]
    status = update["inputSchema"]["properties"]["status"]
    assert "enum" not in status
    assert '"CONFIRMED", "SHIPPED", "DELIVERED"' in status["description"]
    assert update["inputSchema"]["required"] == ["order_id", "status"]
    (listing,) = [
        d
        for d in gateway_tool_definitions(load_tools(LAMBDAS_DIR / "orders" / "tools.json"))
        if d["name"] == "list_orders"
    ]
    assert "Between 1 and 50. Default: 10." in listing["inputSchema"]["properties"]["limit"]["description"]
    assert "required" not in listing["inputSchema"]


def test_inventory_category_enum_matches_the_catalogue() -> None:
    catalogue = json.loads((LAMBDAS_DIR / "inventory" / "catalog.json").read_text())
    tools = {spec.name: spec for spec in load_tools(LAMBDAS_DIR / "inventory" / "tools.json")}
    enum = tools["search_products"].input_schema["properties"]["category"]["enum"]
    assert sorted(enum) == sorted({product["category"] for product in catalogue})
    seeded = {item["sku"] for item in load_seed(LAMBDAS_DIR / "inventory" / "seed.json")}
    assert seeded == {product["sku"] for product in catalogue}


@pytest.mark.parametrize("function_dir", FUNCTIONS, ids=lambda p: p.name)
def test_seed_fits_one_batch_write_and_marshals_like_boto3(function_dir: Path) -> None:
    items = load_seed(function_dir / "seed.json")
    assert 0 < len(items) <= 25
    serializer = TypeSerializer()
    exact = json.loads((function_dir / "seed.json").read_text(), parse_float=Decimal)
    for plain, decimal_item in zip(items, exact, strict=True):
        assert marshal_item(plain) == {k: serializer.serialize(v) for k, v in decimal_item.items()}
        assert unmarshal_item(marshal_item(plain)) == plain
    request = batch_write_request("table", items)
    assert len(json.dumps(request).encode()) < 16 * 1024 * 1024
    assert all(len(json.dumps(item).encode()) < 400 * 1024 for item in items)


def test_orders_seed_is_consistent_with_the_lifecycle() -> None:
    orders = load_handler(LAMBDAS_DIR / "orders")
    for order in load_seed(LAMBDAS_DIR / "orders" / "seed.json"):
        history = [entry["status"] for entry in order["status_history"]]
        assert history[-1] == order["status"]
        assert all(b in orders.TRANSITIONS[a] for a, b in itertools.pairwise(history))
        assert order["total"] == round(sum(i["quantity"] * i["unit_price"] for i in order["items"]), 2)


def _write_tools(tmp_path: Path, tools: object) -> Path:
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(tools))
    return path


NULL_PROPERTY = {"type": "null", "description": "x"}
GOOD_TOOL = {
    "name": "ping",
    "description": "Ping.",
    "inputSchema": {"type": "object", "properties": {"x": {"type": "string", "description": "x"}}},
}


def test_a_declared_tool_without_implementation_fails_at_import(tmp_path: Path) -> None:
    router = ToolRouter(_write_tools(tmp_path, [GOOD_TOOL]), service="t")
    with pytest.raises(ToolSchemaError, match="no implementation: \\['ping'\\]"):
        router.build_handler()


def test_an_implementation_not_in_tools_json_fails_at_import(tmp_path: Path) -> None:
    router = ToolRouter(_write_tools(tmp_path, [GOOD_TOOL]), service="t")
    with pytest.raises(ToolSchemaError, match=r"'pong' has no entry in tools\.json"):

        @router.tool()
        def pong(args: dict) -> dict:
            return args


def test_an_implementation_registered_twice_fails(tmp_path: Path) -> None:
    router = ToolRouter(_write_tools(tmp_path, [GOOD_TOOL]), service="t")
    router.tool("ping")(lambda args: args)
    with pytest.raises(ToolSchemaError, match="implemented twice"):
        router.tool("ping")(lambda args: args)


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ([], "non-empty JSON array"),
        ([{**GOOD_TOOL, "name": "orders___ping"}], "must match"),
        ([{**GOOD_TOOL, "name": "bad-name"}], "must match"),
        ([GOOD_TOOL, GOOD_TOOL], "duplicate tool name"),
        ([{**GOOD_TOOL, "description": " "}], "description must be a non-empty string"),
        ([{**GOOD_TOOL, "inputSchema": {"type": "string"}}], "must be an object schema"),
        ([{**GOOD_TOOL, "extra": 1}], "exactly the keys"),
        ([{**GOOD_TOOL, "inputSchema": {"type": "object", "oneOf": []}}], r"keywords \['oneOf'\]"),
        ([{**GOOD_TOOL, "inputSchema": {"type": "object", "required": ["y"]}}], "undeclared properties"),
        (
            [{**GOOD_TOOL, "inputSchema": {"type": "object", "properties": {"x": {"type": "string"}}}}],
            "needs a description",
        ),
        (
            [{**GOOD_TOOL, "inputSchema": {"type": "object", "properties": {"x": NULL_PROPERTY}}}],
            "'type' must be one of",
        ),
    ],
)
def test_malformed_tools_json_is_refused(tmp_path: Path, tools: object, message: str) -> None:
    with pytest.raises(ToolSchemaError, match=message):
        load_tools(_write_tools(tmp_path, tools))


def test_strip_prefix_takes_the_part_after_the_last_separator() -> None:
    assert strip_prefix("orders___get_order") == "get_order"
    assert strip_prefix("a-b___c___get_order") == "get_order"
