"""The agent's stream events as the page shows them: a tool's refusal told apart from its failure, and a
turn's usage with its estimated cost.

A refusal is the authorization at work (the verified caller may not do this), not a fault: the page shows it
as such. Tools report both as a structured error result (`lambdas/shared/python/gateway_tool/errors.py`:
`{"error": {"code", "message", ...}}`), the gateway's own refusals (interceptor, Cedar policies) too; the
code tells them apart.
"""

from __future__ import annotations

import json
from typing import Any

from webui.pricing import Prices

REFUSALS = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED"})


def annotated(event: Any, prices: Prices) -> Any:
    """`event` with `refusal` or `failure` (the error code) on a tool result that is an error, and
    `estimated_usd` on a usage event; any other event unchanged."""
    if not isinstance(event, dict):
        return event
    if event.get("type") == "tool_result":
        code = error_code(event.get("content"))
        if code in REFUSALS:
            return {**event, "refusal": code}
        if code or event.get("status") not in ("success", None):
            return {**event, "failure": code or "ERROR"}
    if event.get("type") == "usage":
        return {**event, "estimated_usd": prices.cost(event)}
    return event


def error_code(content: Any) -> str | None:
    """The `error.code` of a tool's structured error result, if `content` is one."""
    try:
        document = json.loads(content) if isinstance(content, str) else None
    except ValueError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
