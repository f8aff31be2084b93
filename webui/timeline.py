"""A turn's span timeline, from the local stage's traces (`local/traces.py`): model calls, memory calls,
tool calls and the rest, each with its start (relative to the turn) and its duration.

The turn's trace is the one of its session whose root span started while the page's request was open
(between sending the prompt and the stream's end, both on this machine's clock, as the agent's spans are).
Its spans reach the traces file a moment after the answer (the exporter's batch delay), in batches: a trace is
complete once its root span (`POST /invocations`, no parent) is there, since the root ends after every span of
the turn and the exporter sends spans in the order they end. Until then the turn is `PENDING`, and after
TRACE_WAIT_SECONDS `MISSING`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from local.traces import attributes, duration_ms, span_tree, turns

TRACE_WAIT_SECONDS = 15.0
PENDING = {"status": "pending"}
MISSING = {"status": "unavailable", "reason": "no spans were exported for this turn"}
_KINDS = (  # (span name prefix, kind): the first that matches
    ("chat", "model"),
    ("agentcore.memory.", "memory"),
    ("POST /invocations", "agent"),
    ("execute_tool", "tool"),
    ("agentcore.gateway.call_tool", "tool"),
    ("mcp tools/call x_amz_bedrock_agentcore_search", "gateway"),  # the gateway's tool search
    ("mcp tools/call", "tool"),
    ("agentcore.gateway.", "gateway"),
    ("mcp ", "gateway"),
    ("agentcore.browser", "tool"),
    ("invoke_agent", "agent"),
    ("execute_event_loop_cycle", "agent"),
)
_MEMORY_CALLS = ("CreateEvent", "ListEvents", "RetrieveMemoryRecords", "GetEvent", "DeleteEvent")


def kind(span: dict[str, Any]) -> str:
    """What the span is on the page: model, memory, tool, gateway, agent or other."""
    name = span["name"]
    found = next((k for prefix, k in _KINDS if name.startswith(prefix)), None)
    if found:
        return found
    if attributes(span).get("rpc.method") in _MEMORY_CALLS:
        return "memory"
    return "other"


def turn_timeline(
    traces: Path, session_id: str, started_ns: int, ended_ns: int | None, now_ns: int | None = None
) -> dict[str, Any]:
    """`{"status": "ready", "trace_id", "spans": [...]}` for the turn, else PENDING or MISSING."""
    now = time.time_ns() if now_ns is None else now_ns
    if ended_ns is None:
        return PENDING
    for trace in reversed(turns(traces, session_id)):
        root = next((span for span in trace if not span.get("parentSpanId")), None)
        root_start = int(root.get("startTimeUnixNano", 0)) if root else 0
        if root and started_ns <= root_start <= ended_ns:
            rows = _rows(span_tree(trace), root_start)
            return {"status": "ready", "trace_id": trace[0]["traceId"], "spans": rows}
    return PENDING if now - ended_ns < TRACE_WAIT_SECONDS * 1e9 else MISSING


def _rows(ordered: list[tuple[int, dict[str, Any]]], origin_ns: int) -> list[dict[str, Any]]:
    return [
        {
            "name": span["name"],
            "kind": kind(span),
            "depth": depth,
            "start_ms": round((int(span.get("startTimeUnixNano", 0)) - origin_ns) / 1e6, 1),
            "duration_ms": round(duration_ms(span), 1),
            "error": span.get("status", {}).get("code") == "STATUS_CODE_ERROR",
        }
        for depth, span in ordered
    ]
