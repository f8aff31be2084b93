"""The LLM double (local stage + tests): scripted turns in Converse-stream form, in-process or at the wire.

It stands in for Bedrock, which cannot exist offline. A script is a list of turns (`local.scripted_turns`),
replayed one per model call; each turn is text, a tool call, or (in-process only) a failure. A successful
turn becomes exactly the events of a Converse stream, so the real Strands agent/tool loop runs unchanged:

- in-process, `ScriptedModel` is a Strands `Model` yielding those events (for tests that drive a Strands
  `Agent` or the app directly);
- at the wire, the local ConverseStream server (`local.bedrock_runtime`) writes the same events as an AWS
  event stream, for the real `BedrockModel` (the local stage and the end-to-end tests).

Every call is recorded (`requests`: messages, tool specs, system prompt), so tests can assert on what the
model was given.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

from strands.models.model import Model
from strands.types.exceptions import ModelThrottledException

from local.scripted_turns import USAGE, Call, Text, ToolCall, next_turn, stream_events

__all__ = ["USAGE", "Call", "Fail", "Recorded", "ScriptedModel", "Text", "ToolCall", "Turn", "throttled"]


@dataclass(frozen=True)
class Fail:
    """In-process only: the model call raises `error`, e.g. `ModelThrottledException("Too many requests")`."""

    error: Exception


Turn = Text | ToolCall | Fail


@dataclass
class Recorded:
    """What the agent sent the in-process model on one call."""

    messages: list[dict[str, Any]]
    tool_specs: list[dict[str, Any]]
    system_prompt: str | None


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
