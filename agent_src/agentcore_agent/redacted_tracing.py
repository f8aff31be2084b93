"""Strands' tracer without per-message span events when their content is redacted (the stages' default).

Strands puts one span event per message of the whole conversation on each model-call span, each cycle span
and the agent span. It serializes each message to JSON first (with a `json.dumps` test of every value).
Under the runtime's redaction (`REDACT_TRACE_CONTENT` in stacks/runtime_stack.py) it then replaces the
content with "[REDACTED]". Once a conversation has grown, a tool turn carries ~200 such events
(`make local`'s traces, 40-message window). They hold nothing but a role, yet each is serialized, exported
and stored by Transaction Search, and the serializing was 8 % of the agent's CPU in a long session.
`RedactedTracer` leaves those events out when both message attributes are redacted. It keeps everything
else: the spans, their attributes, the system-prompt and `gen_ai.choice` events. With `trace_content` on
(nothing redacted), Strands' events are unchanged.

Strands reads its tracer from a module-level singleton (`strands.telemetry.tracer.get_tracer`), at agent
construction and in every event-loop cycle. `install()` replaces that singleton once at start-up, before
the first agent is built. tests/agent/test_telemetry.py checks that the hook still works with the pinned
Strands.
"""

from __future__ import annotations

from typing import Any

from strands.telemetry import tracer as strands_tracer

MESSAGE_ATTRIBUTES = ("gen_ai.input.messages", "gen_ai.output.messages")


class RedactedTracer(strands_tracer.Tracer):
    """Strands' `Tracer`; the per-message events are skipped while message content is redacted."""

    def __init__(self) -> None:
        super().__init__()
        self.messages_redacted = all(
            self._redact(name, "") == strands_tracer.REDACTED_VALUE for name in MESSAGE_ATTRIBUTES
        )

    def _add_event_messages(self, span: Any, messages: Any) -> None:
        if not self.messages_redacted:
            super()._add_event_messages(span, messages)


def install() -> RedactedTracer:
    """Make a `RedactedTracer` Strands' tracer for this process (reads OTEL_SEMCONV_STABILITY_OPT_IN now)."""
    tracer = RedactedTracer()
    strands_tracer._tracer_instance = tracer
    return tracer
