"""The answer stream's events that show what a turn did: each tool's result, and the turn's token usage.

A client that talks to the agent (the chat page, `webui/`) shows a tool call with its arguments and result,
and a turn with its tokens and their estimated cost. The stream says so itself, so that a deployed stage,
whose spans the client cannot read, shows the same as the local one:

- `{"type": "tool_result", "id", "name", "input", "status", "content"}` once a tool has answered: the call as
  the model made it and the result as the model reads it (its text, JSON blocks as JSON; at most
  MAX_RESULT_CHARS, then `truncated: true`). It is what the caller's own token was allowed to read.
- `{"type": "usage", "inputTokens", "outputTokens", "totalTokens"}` just before `end`: the model's reported
  usage of this turn (every model call of it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_RESULT_CHARS = 8000


def tool_result_event(result: Mapping[str, Any], use: Mapping[str, Any] | None) -> dict[str, Any]:
    """The event for one `toolResult` block; `use` is the `toolUse` block it answers (None: not seen)."""
    content = "\n".join(
        str(block["text"]) if "text" in block else json.dumps(block.get("json"), separators=(",", ":"))
        for block in result.get("content", [])
        if "text" in block or "json" in block
    )
    event = {
        "type": "tool_result",
        "id": result.get("toolUseId"),
        "name": (use or {}).get("name"),
        "input": (use or {}).get("input"),
        "status": result.get("status"),
        "content": content[:MAX_RESULT_CHARS],
    }
    if len(content) > MAX_RESULT_CHARS:
        event["truncated"] = True
    return event


def usage_event(counts: Mapping[str, int]) -> dict[str, Any]:
    """The turn's usage event from `usage_metrics.usage_delta` (its EMF metric names)."""
    return {
        "type": "usage",
        "inputTokens": int(counts.get("InputTokens", 0)),
        "outputTokens": int(counts.get("OutputTokens", 0)),
        "totalTokens": int(counts.get("TotalTokens", 0)),
    }
