"""The LLM double (local stage + tests): scripted turns in Converse-stream form, in-process or at the wire.

It stands in for Bedrock, which cannot exist offline. A script is a list of turns, replayed one per model
call (the last one repeats when the script runs out); each turn is text, a tool call, or a failure. A
successful turn becomes exactly the events of a Converse stream (`stream_events`: messageStart,
contentBlock*, messageStop with a stopReason, metadata), so the real Strands agent/tool loop runs unchanged:

- in-process, `ScriptedModel` is a Strands `Model` yielding those events (for tests that drive a Strands
  `Agent` or the app directly);
- at the wire, the local ConverseStream server (`local.bedrock_runtime`) writes the same events as an AWS
  event stream, for the real `BedrockModel` (the local stage and the end-to-end tests).

Every call is recorded (`requests`: messages, tool specs, system prompt), so tests can assert on what the
model was given.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from strands.models.model import Model
from strands.types.exceptions import ModelThrottledException

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


@dataclass(frozen=True)
class Fail:
    """In-process only: the model call raises `error`, e.g. `ModelThrottledException("Too many requests")`."""

    error: Exception


Turn = Text | ToolCall | Fail


class Call(Protocol):
    """What the model was given on one call (recorded in-process or read from the wire)."""

    @property
    def messages(self) -> list[dict[str, Any]]: ...

    @property
    def tool_specs(self) -> list[dict[str, Any]]: ...

    @property
    def system_prompt(self) -> str | None: ...


@dataclass
class Recorded:
    """What the agent sent the in-process model on one call."""

    messages: list[dict[str, Any]]
    tool_specs: list[dict[str, Any]]
    system_prompt: str | None


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


class ScriptedModel(Model):
    """A Strands model replaying `turns` in-process, one per model call."""

    def __init__(self, turns: list[Turn], input_tokens: int = 11, output_tokens: int = 7) -> None:
        next_turn(turns, 1)  # refuses an empty script
        self.turns = list(turns)
        self.requests: list[Recorded] = []
        self._usage = {"inputTokens": input_tokens, "outputTokens": output_tokens}
        self._config: dict[str, Any] = {"model_id": "scripted-double"}

    def update_config(self, **model_config: Any) -> None:
        self._config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        return self._config

    def structured_output(
        self, output_model: Any, prompt: Any, system_prompt: str | None = None, **kwargs: Any
    ) -> Any:
        raise NotImplementedError("the scripted model does not produce structured output")

    async def stream(
        self,
        messages: Any,
        tool_specs: list[dict[str, Any]] | None = None,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[dict[str, Any]]:
        call = Recorded(json.loads(json.dumps(messages, default=str)), tool_specs or [], system_prompt)
        self.requests.append(call)
        turn = next_turn(self.turns, len(self.requests))
        if isinstance(turn, Fail):
            raise turn.error
        for event in stream_events(turn, call, self._usage):
            yield event


def throttled() -> Fail:
    """The failure Bedrock's throttling becomes inside Strands."""
    return Fail(
        ModelThrottledException("ThrottlingException: Too many requests, please wait before trying again.")
    )
