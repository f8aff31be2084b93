"""A turn's timeline from the local traces: spans sent by the real OTLP exporter to the local receiver, in the
batches a BatchSpanProcessor sends (children first, the root last)."""

from __future__ import annotations

import time

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from webui.timeline import MISSING, PENDING, TRACE_WAIT_SECONDS, kind, turn_timeline

SESSION = "local-" + "s" * 36


class Turn:
    """The spans of one agent turn, opened and ended as the agent does; each exported as it ends."""

    def __init__(self, endpoint: str) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": "agentcore-dev-agent"}))
        self.provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self.tracer = self.provider.get_tracer("test")
        self.root = self.tracer.start_span("POST /invocations")
        context = trace.set_span_in_context(self.root)
        agent = self.tracer.start_span(
            "invoke_agent agentcore_agent", context, attributes={"session.id": SESSION}
        )
        inner = trace.set_span_in_context(agent)
        for name in ("chat", "execute_tool orders___get_order", "agentcore.memory.create_event", "chat"):
            self.tracer.start_span(name, inner).end()
        agent.end()

    def end(self) -> None:
        self.root.end()
        self.provider.shutdown()


def test_a_turn_is_pending_until_its_root_span_is_exported_then_ready_in_tree_order(receiver):
    started = time.time_ns()
    turn = Turn(receiver.endpoint_url)
    ended = time.time_ns()
    assert turn_timeline(receiver.path, SESSION, started, ended) == PENDING  # children in, the root not yet
    turn.end()
    timeline = turn_timeline(receiver.path, SESSION, started, ended)
    assert timeline["status"] == "ready"
    rows = [(row["depth"], row["name"], row["kind"]) for row in timeline["spans"]]
    assert rows == [
        (0, "POST /invocations", "agent"),
        (1, "invoke_agent agentcore_agent", "agent"),
        (2, "chat", "model"),
        (2, "execute_tool orders___get_order", "tool"),
        (2, "agentcore.memory.create_event", "memory"),
        (2, "chat", "model"),
    ]
    assert timeline["spans"][0]["start_ms"] == 0
    assert all(row["duration_ms"] >= 0 and row["start_ms"] >= 0 for row in timeline["spans"])


def test_a_running_turn_is_pending_and_one_without_spans_is_missing_after_the_wait(receiver):
    now = time.time_ns()
    assert turn_timeline(receiver.path, SESSION, now, None) == PENDING
    assert turn_timeline(receiver.path, SESSION, now, now, now_ns=now + 1) == PENDING
    late = now + int(TRACE_WAIT_SECONDS * 1e9) + 1
    assert turn_timeline(receiver.path, SESSION, now, now, now_ns=late) == MISSING


def test_the_trace_of_another_turn_of_the_session_is_not_taken(receiver):
    Turn(receiver.endpoint_url).end()
    after = time.time_ns()
    assert turn_timeline(receiver.path, SESSION, after, after + 1, now_ns=after + 2) == PENDING
    assert turn_timeline(receiver.path, "local-other-" + "o" * 30, 0, after, now_ns=after) == PENDING


@pytest.mark.parametrize(
    ("name", "attributes", "expected"),
    [
        ("chat us.anthropic.claude", {}, "model"),
        ("Bedrock AgentCore.ListEvents", {"rpc.method": "ListEvents"}, "memory"),
        ("mcp tools/call x_amz_bedrock_agentcore_search", {}, "gateway"),
        ("mcp tools/call orders___get_order", {}, "tool"),
        ("DynamoDB.GetItem", {"rpc.method": "GetItem"}, "other"),
    ],
)
def test_each_span_is_shown_as_what_it_is(name, attributes, expected):
    listed = [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()]
    assert kind({"name": name, "attributes": listed}) == expected
