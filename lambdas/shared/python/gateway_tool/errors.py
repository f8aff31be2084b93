"""The one error shape every tool returns, so the model can read and act on failures instead of crashing."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable, model-readable error codes (gRPC-style names that LLMs already understand)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"  # arguments break the schema or an input rule
    INVALID_REQUEST = "INVALID_REQUEST"  # the gateway context is missing or malformed (not the model's fault)
    UNKNOWN_TOOL = "UNKNOWN_TOOL"  # the tool name is not served by this function
    NOT_FOUND = "NOT_FOUND"  # the referenced record does not exist
    PERMISSION_DENIED = "PERMISSION_DENIED"  # the verified caller may not do this (not the model's to change)
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"  # a per-caller cap (e.g. units on hold) would be exceeded
    FAILED_PRECONDITION = "FAILED_PRECONDITION"  # state forbids it (ship a cancelled order)
    CONFLICT = "CONFLICT"  # a concurrent writer won; re-read and retry
    UNAVAILABLE = "UNAVAILABLE"  # a dependency (DynamoDB) failed or throttled; retrying later may work
    INTERNAL = "INTERNAL"  # a bug in the tool; retrying will not help


_RETRYABLE = frozenset({ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE})


def error_result(code: ErrorCode, message: str, **details: Any) -> dict[str, Any]:
    """Build `{"error": {"code", "message", "retryable", ...details}}`, the structured failure result."""
    body: dict[str, Any] = {"code": str(code), "message": message, "retryable": code in _RETRYABLE}
    body.update({key: value for key, value in details.items() if value is not None})
    return {"error": body}


class ToolError(Exception):
    """An expected failure raised by tool code; the router returns it as `error_result`, never re-raises."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_result(self) -> dict[str, Any]:
        """Render as the structured error result returned to the gateway."""
        return error_result(self.code, self.message, **self.details)
