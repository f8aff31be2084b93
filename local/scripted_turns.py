"""Scripted model turns and the Converse-stream events they become: the LLM double without Strands.

A script is a list of turns, replayed one per model call (`next_turn`: the last one repeats when the script
runs out); a turn is text or a tool call (`local.scripted_model` adds in-process failures). A successful turn
becomes exactly the events of a Converse stream (`stream_events`: messageStart, contentBlock*, messageStop
with a stopReason, metadata). The local ConverseStream server (`local.bedrock_runtime`) writes them at the
wire, `local.scripted_model.ScriptedModel` yields them in-process. Kept apart from the in-process model so
the local stage does not import the Strands SDK (~1.4 s of its start) for its model server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

USAGE = {"inputTokens": 11, "outputTokens": 7}


@dataclass(frozen=True)
class Text:
    """A turn in which the model answers with text (streamed in `chunks` pieces).

    `text` may be a callable of the messages the model was given, for an answer built from tool results.
    """

    text: str | Callable[[list[dict[str, Any]]], str]
    chunks: int = 2


@dataclass(frozen=True)
class ToolCall:
    """A turn in which the model asks for a tool; `name` may be a callable choosing among offered tools."""

    name: str | Callable[[list[dict[str, Any]]], str]
    arguments: dict[str, Any] = field(default_factory=dict)
    tool_use_id: str = "tooluse-1"


class Call(Protocol):
    """What the model was given on one call (recorded in-process or read from the wire)."""

    @property
    def messages(self) -> list[dict[str, Any]]: ...

    @property
    def tool_specs(self) -> list[dict[str, Any]]: ...

    @property
    def system_prompt(self) -> str | None: ...


T = TypeVar("T")


def next_turn(turns: Sequence[T], calls: int) -> T:
    """The turn for call number `calls` (1-based): in order, then the last one again."""
    if not turns:
        raise ValueError("a script needs at least one turn")
    return turns[min(calls - 1, len(turns) - 1)]


def stream_events(
    turn: Text | ToolCall, call: Call, usage: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """The Converse stream events of one successful turn, as Bedrock sends them (one content block)."""
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    if isinstance(turn, Text):
        text = turn.text(call.messages) if callable(turn.text) else turn.text
        size = max(1, -(-len(text) // max(1, turn.chunks)))
        for start in range(0, len(text), size):
            events.append(
                {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": text[start : start + size]}}}
            )
        stop_reason = "end_turn"
    else:
        name = turn.name(call.tool_specs) if callable(turn.name) else turn.name
        start_block = {"toolUse": {"toolUseId": turn.tool_use_id, "name": name}}
        events.append({"contentBlockStart": {"contentBlockIndex": 0, "start": start_block}})
        delta = {"toolUse": {"input": json.dumps(turn.arguments)}}
        events.append({"contentBlockDelta": {"contentBlockIndex": 0, "delta": delta}})
        stop_reason = "tool_use"
    counts = usage or USAGE
    total = counts["inputTokens"] + counts["outputTokens"]
    events += [
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": stop_reason}},
        {"metadata": {"usage": {**counts, "totalTokens": total}, "metrics": {"latencyMs": 1}}},
    ]
    return events
