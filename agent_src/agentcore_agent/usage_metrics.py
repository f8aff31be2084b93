"""One line per turn with its model usage, in CloudWatch's embedded metric format (EMF), on stdout.

The metrics (input, output and total tokens per turn) carry low-cardinality dimensions only: the agent's
service name (one per stage) and the kind of caller. The caller's `sub` and the session are plain fields of
the same line, never dimensions (a dimension per user would be a metric per user, each billed): the stage's
Contributor Insights rule reads `actor_id` and `total_tokens` from these lines to rank the top spenders
(stacks/spend_guards.py). The runtime writes the container's stdout to the endpoint's log group.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

NAMESPACE = "AgentCoreCDK"
EVENT = "turn_usage"
DIMENSIONS = ("ServiceName", "CallerKind")
_COUNTS = {"InputTokens": "inputTokens", "OutputTokens": "outputTokens", "TotalTokens": "totalTokens"}


def usage_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, int]:
    """What a turn added to an agent's accumulated usage, per EMF metric name."""
    return {name: int(after.get(key) or 0) - int(before.get(key) or 0) for name, key in _COUNTS.items()}


def emit_turn_usage(
    counts: Mapping[str, int],
    *,
    actor_id: str,
    kind: str,
    session_id: str | None,
    out: TextIO | None = None,
    now: float | None = None,
) -> None:
    """Write the turn's EMF line (one JSON object on one line)."""
    record = {
        "_aws": {
            "Timestamp": int((time.time() if now is None else now) * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(DIMENSIONS)],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in _COUNTS],
                }
            ],
        },
        "ServiceName": os.environ.get("OTEL_SERVICE_NAME") or "agentcore-agent",
        "CallerKind": kind,
        **{name: int(counts.get(name, 0)) for name in _COUNTS},
        "event": EVENT,
        "actor_id": actor_id,
        "session_id": session_id,
        "total_tokens": int(counts.get("TotalTokens", 0)),
    }
    stream = out or sys.stdout
    stream.write(json.dumps(record, separators=(",", ":")) + "\n")
    stream.flush()
