"""The LLM double (local stage + tests): a Strands model replaying a script in Converse-stream format.

It stands in for Bedrock (which cannot exist offline). Each turn of the script is either text or a tool
call; the double streams exactly the events `BedrockModel.stream()` would (messageStart, contentBlock*,
messageStop with a stopReason, metadata), so the real Strands agent/tool loop runs unchanged. Every request
the agent sends is recorded in `requests` so tests can assert on what the model was given (system prompt,
messages, tool specs).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Any

from strands.models.model import Model
from strands.types.exceptions import ModelThrottledException


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
    """A turn in which the model call fails, e.g. with `ModelThrottledException("Too many requests")`."""

    error: Exception


Turn = Text | ToolCall | Fail


@dataclass
class Recorded:
    """What the agent sent the model on one call."""

    messages: list[dict[str, Any]]
    tool_specs: list[dict[str, Any]]
    system_prompt: str | None


class ScriptedModel(Model):
    """Replays `turns` in order, one per model call; repeats the last turn when the script runs out."""

    def __init__(self, turns: list[Turn], input_tokens: int = 11, output_tokens: int = 7) -> None:
        if not turns:
            raise ValueError("a script needs at least one turn")
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

    def _next_turn(self) -> Turn:
        index = min(len(self.requests) - 1, len(self.turns) - 1)
        return self.turns[index]

    async def stream(
        self,
        messages: Any,
        tool_specs: list[dict[str, Any]] | None = None,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[dict[str, Any]]:
        self.requests.append(
            Recorded(json.loads(json.dumps(messages, default=str)), tool_specs or [], system_prompt)
        )
        turn = self._next_turn()
        if isinstance(turn, Fail):
            raise turn.error
        yield {"messageStart": {"role": "assistant"}}
        if isinstance(turn, Text):
            text = turn.text(self.requests[-1].messages) if callable(turn.text) else turn.text
            yield {"contentBlockStart": {"start": {}}}
            size = max(1, -(-len(text) // max(1, turn.chunks)))
            for start in range(0, len(text), size):
                yield {"contentBlockDelta": {"delta": {"text": text[start : start + size]}}}
            yield {"contentBlockStop": {}}
            stop_reason = "end_turn"
        else:
            name = turn.name(tool_specs or []) if callable(turn.name) else turn.name
            yield {"contentBlockStart": {"start": {"toolUse": {"name": name, "toolUseId": turn.tool_use_id}}}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(turn.arguments)}}}}
            yield {"contentBlockStop": {}}
            stop_reason = "tool_use"
        yield {"messageStop": {"stopReason": stop_reason}}
        total = self._usage["inputTokens"] + self._usage["outputTokens"]
        yield {"metadata": {"usage": {**self._usage, "totalTokens": total}, "metrics": {"latencyMs": 1}}}


def throttled() -> Fail:
    """The failure Bedrock's throttling becomes inside Strands."""
    return Fail(
        ModelThrottledException("ThrottlingException: Too many requests, please wait before trying again.")
    )
