"""Load a function's tools.json (the single source of its MCP tools) and derive what others need from it.

tools.json holds each tool's full input JSON Schema, including the constraints the handler enforces (enum,
minimum/maximum, lengths, additionalProperties, default). The AgentCore Gateway's tool-schema API accepts only
a subset (`type`, `description`, `properties`, `required`, `items` — see botocore's `SchemaDefinition` and the
CloudFormation `AWS::BedrockAgentCore::GatewayTarget` schema, both `additionalProperties: false`), so
`gateway_tool_definitions` projects each tool onto that subset and folds the dropped constraints into the
property descriptions, where the model still reads them. Standard library only: the CDK app imports this.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway_tool.caller import CALLER_ARGUMENT, CALLER_SCHEMA
from gateway_tool.errors import ErrorCode, ToolError

PREFIX_SEPARATOR = "___"
"""The gateway names a tool `<targetName>___<toolName>` (three underscores)."""

TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$")
"""Tool names: Bedrock Converse's toolSpec name rule (≤ 64, no hyphen so Python identifiers stay usable)."""

MAX_SCHEMA_BYTES = 1_000_000
"""An inline tool schema of a gateway target must stay under 1 MB."""

SCHEMA_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object"})
GATEWAY_KEYWORDS = frozenset({"type", "description", "properties", "required", "items"})
"""Keywords the gateway's SchemaDefinition accepts; everything else is handler-side only."""
HANDLER_KEYWORDS = frozenset(
    {
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "pattern",
        "additionalProperties",
        "default",
    }
)
"""Extra keywords the handler enforces (fastjsonschema) and the projection turns into description text."""

_TOOL_KEYS = frozenset({"name", "description", "inputSchema"})


class ToolSchemaError(ValueError):
    """tools.json is malformed or disagrees with the implementation: raised at import so deploys fail fast."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool as declared in tools.json."""

    name: str
    description: str
    input_schema: Mapping[str, Any]

    def as_mcp_tool(self) -> dict[str, Any]:
        """The tools.json form (`name`, `description`, full `inputSchema`)."""
        return {"name": self.name, "description": self.description, "inputSchema": self.input_schema}


def load_tools(path: Path | str) -> tuple[ToolSpec, ...]:
    """Read and check a tools.json file; any structural problem raises `ToolSchemaError` naming the tool.

    Every tool gains the reserved `caller` argument (see `gateway_tool.caller`), so no tools.json declares it.
    """
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) > MAX_SCHEMA_BYTES:
        raise ToolSchemaError(f"{path}: {len(raw)} bytes exceeds the gateway's 1 MB inline schema limit")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ToolSchemaError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, list) or not data:
        raise ToolSchemaError(f"{path}: must be a non-empty JSON array of tool definitions")
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for index, tool in enumerate(data):
        where = f"{path}[{index}]"
        if not isinstance(tool, dict) or set(tool) != _TOOL_KEYS:
            raise ToolSchemaError(f"{where}: a tool has exactly the keys {sorted(_TOOL_KEYS)}")
        name, description, schema = tool["name"], tool["description"], tool["inputSchema"]
        if not isinstance(name, str) or not TOOL_NAME_PATTERN.fullmatch(name) or PREFIX_SEPARATOR in name:
            raise ToolSchemaError(
                f"{where}: tool name {name!r} must match {TOOL_NAME_PATTERN.pattern}, no '{PREFIX_SEPARATOR}'"
            )
        if name in seen:
            raise ToolSchemaError(f"{where}: duplicate tool name {name!r}")
        seen.add(name)
        if not isinstance(description, str) or not description.strip():
            raise ToolSchemaError(f"{where} ({name}): description must be a non-empty string")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise ToolSchemaError(f"{where} ({name}): inputSchema must be an object schema")
        _check_schema(schema, f"{name}.inputSchema")
        if CALLER_ARGUMENT in schema.get("properties", {}):
            raise ToolSchemaError(
                f"{where} ({name}): '{CALLER_ARGUMENT}' is reserved for the verified caller"
            )
        schema = {**schema, "properties": {**schema.get("properties", {}), CALLER_ARGUMENT: CALLER_SCHEMA}}
        specs.append(ToolSpec(name=name, description=description, input_schema=schema))
    return tuple(specs)


def _check_schema(schema: Mapping[str, Any], where: str) -> None:
    """Reject keywords outside the supported subset so nothing is silently ignored by gateway or handler."""
    unknown = set(schema) - GATEWAY_KEYWORDS - HANDLER_KEYWORDS
    if unknown:
        raise ToolSchemaError(f"{where}: unsupported keywords {sorted(unknown)}")
    kind = schema.get("type")
    if kind not in SCHEMA_TYPES:
        raise ToolSchemaError(f"{where}: 'type' must be one of {sorted(SCHEMA_TYPES)}, got {kind!r}")
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], bool):
        raise ToolSchemaError(f"{where}: additionalProperties must be true or false")
    if kind == "object":
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise ToolSchemaError(f"{where}: properties must be an object")
        missing = set(schema.get("required", [])) - set(properties)
        if missing:
            raise ToolSchemaError(f"{where}: required names undeclared properties {sorted(missing)}")
        for prop, sub in properties.items():
            if not isinstance(sub, dict):
                raise ToolSchemaError(f"{where}.{prop}: must be a schema object")
            if not str(sub.get("description", "")).strip():
                raise ToolSchemaError(f"{where}.{prop}: every property needs a description for the model")
            _check_schema(sub, f"{where}.{prop}")
    if kind == "array":
        items = schema.get("items")
        if not isinstance(items, dict):
            raise ToolSchemaError(f"{where}: an array schema needs an 'items' schema")
        _check_schema(items, f"{where}[]")


def strip_prefix(prefixed_name: str) -> str:
    """Turn the gateway's `<target>___<tool>` into `<tool>`; a name without the prefix is a bad request."""
    if PREFIX_SEPARATOR not in prefixed_name:
        raise ToolError(
            ErrorCode.INVALID_REQUEST,
            f"tool name {prefixed_name!r} lacks the gateway's '<target>{PREFIX_SEPARATOR}<tool>' prefix",
        )
    tool = prefixed_name.split(PREFIX_SEPARATOR)[-1]
    if not tool:
        raise ToolError(ErrorCode.INVALID_REQUEST, f"tool name {prefixed_name!r} has an empty tool part")
    return tool


def _constraint_text(schema: Mapping[str, Any]) -> str:
    """Describe in words the constraints the gateway subset cannot carry."""
    notes: list[str] = []
    if "enum" in schema:
        notes.append("One of: " + ", ".join(json.dumps(value) for value in schema["enum"]) + ".")
    for low, high, unit in (("minimum", "maximum", ""), ("minLength", "maxLength", " characters")):
        if low in schema and high in schema:
            notes.append(f"Between {schema[low]} and {schema[high]}{unit}.")
        elif low in schema:
            notes.append(f"At least {schema[low]}{unit}.")
        elif high in schema:
            notes.append(f"At most {schema[high]}{unit}.")
    if "minItems" in schema or "maxItems" in schema:
        notes.append(f"{schema.get('minItems', 0)} to {schema.get('maxItems', 'any number of')} items.")
    if "pattern" in schema:
        notes.append(f"Must match {schema['pattern']}.")
    if "default" in schema:
        notes.append(f"Default: {json.dumps(schema['default'])}.")
    if schema.get("additionalProperties") is False:
        notes.append("No other fields are accepted.")
    return " ".join(notes)


def _project(schema: Mapping[str, Any], *, top: bool = False) -> dict[str, Any]:
    """Project one schema node onto the gateway's SchemaDefinition subset."""
    out: dict[str, Any] = {"type": schema["type"]}
    description = " ".join(part for part in (schema.get("description", ""), _constraint_text(schema)) if part)
    if description and not top:
        out["description"] = description
    if "properties" in schema:
        out["properties"] = {name: _project(sub) for name, sub in schema["properties"].items()}
    if schema.get("required"):
        out["required"] = list(schema["required"])
    if "items" in schema:
        out["items"] = _project(schema["items"])
    return out


def gateway_tool_definitions(tools: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    """The gateway target's inline tool schema (camelCase API shape: name, description, inputSchema)."""
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "inputSchema": _project(spec.input_schema, top=True),
        }
        for spec in tools
    ]
