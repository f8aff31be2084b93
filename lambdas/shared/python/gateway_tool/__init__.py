"""Shared plumbing for Lambda functions that sit behind an AgentCore Gateway target.

Published by the CDK stack as a Lambda layer (`lambdas/shared` -> `/opt/python/gateway_tool`), so every tool
function gets the same schema loading, prefix stripping, argument validation, error shape and dispatch.

The package root and `schema`, `errors` and `seed` import only the standard library, so the CDK app can use
them at synth time (to project tools.json onto the gateway's tool-schema subset and to marshal seed data)
without Powertools installed. The Powertools-based dispatcher lives in `gateway_tool.router`.
"""

from gateway_tool.errors import ErrorCode, ToolError, error_result
from gateway_tool.schema import (
    PREFIX_SEPARATOR,
    TOOL_NAME_PATTERN,
    ToolSchemaError,
    ToolSpec,
    gateway_tool_definitions,
    load_tools,
    strip_prefix,
)

__all__ = [
    "PREFIX_SEPARATOR",
    "TOOL_NAME_PATTERN",
    "ErrorCode",
    "ToolError",
    "ToolSchemaError",
    "ToolSpec",
    "error_result",
    "gateway_tool_definitions",
    "load_tools",
    "strip_prefix",
]
