"""Synth-time access to the tools' own schema code (`lambdas/shared/python/gateway_tool`).

The handlers validate against `lambdas/<target>/tools.json`; the same package projects that file onto the
subset of JSON Schema a gateway target accepts (constraints folded into descriptions) and marshals seed
data. Using it here keeps one implementation of both, used by the functions and by the stacks.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import aws_bedrockagentcore as agentcore

LAMBDAS = Path(__file__).resolve().parent.parent / "lambdas"
sys.path.insert(0, str(LAMBDAS / "shared" / "python"))  # the layer's import root, as in Lambda

from gateway_tool import gateway_tool_definitions, load_tools  # noqa: E402
from gateway_tool.dynamodb import batch_write_request, load_seed  # noqa: E402

__all__ = ["batch_write_request", "load_seed", "tool_schema"]


def schema_definition(schema: Mapping[str, Any]) -> agentcore.SchemaDefinition:
    """One node of a gateway-shaped schema as the L2 `SchemaDefinition` (recursively)."""
    properties = schema.get("properties")
    return agentcore.SchemaDefinition(
        type=agentcore.SchemaDefinitionType.of(schema["type"]),
        description=schema.get("description"),
        properties={k: schema_definition(v) for k, v in properties.items()} if properties else None,
        required=list(schema["required"]) if schema.get("required") else None,
        items=schema_definition(schema["items"]) if "items" in schema else None,
    )


def tool_schema(target: str) -> agentcore.ToolSchema:
    """The inline tool schema of `lambdas/<target>/tools.json` for `Gateway.add_lambda_target`."""
    definitions = gateway_tool_definitions(load_tools(LAMBDAS / target / "tools.json"))
    return agentcore.ToolSchema.from_inline(
        [
            agentcore.ToolDefinition(
                name=tool["name"],
                description=tool["description"],
                input_schema=schema_definition(tool["inputSchema"]),
            )
            for tool in definitions
        ]
    )
