"""Traces of real turns: the app as `__main__` wires it, with the local Memory (SQLite), the local gateway,
the identity double and the local ConverseStream server, exported by an OpenTelemetry SDK provider into
memory.

What production has and these tests reproduce: ADOT installs the global tracer provider (Strands and
`agentcore_agent.telemetry` read it), instruments botocore, and instruments Starlette, so each request is a
server span whose trace the Runtime's trace headers continue. Here `BotocoreInstrumentor` gives the real
botocore spans and the ASGI middleware the server span. The global provider can be set once per process, so
it is set (or reused) once for this module and the exporter is cleared per test.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from agentcore_agent import memory_hooks
from botocore.config import Config
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from local.data_plane import DataPlane
from local.memory_store import MemoryStore
from local.scripted_model import Text, ToolCall
from tests.agent import gateway_fixtures
from tests.agent.conftest import SESSION_A, SESSION_B, serve
from tests.agent.gateway_fixtures import ACTOR, ORDER_PROMPT, StartWired, WiredServer

pytest_plugins = ["tests.agent.gateway_fixtures"]  # fixtures: tables, identity, gateway_url, start_wired

REGION = "us-east-1"
MEMORY_ID = "agentmemory-0123456789"
RECORD_TEXT = "RECORD-TEXT prefers delivery to the office"
MEMORY_SPANS = {
    "agentcore.memory.list_events": "Bedrock AgentCore.ListEvents",
    "agentcore.memory.retrieve_memory_records": "Bedrock AgentCore.RetrieveMemoryRecords",
    "agentcore.memory.create_event": "Bedrock AgentCore.CreateEvent",
}
GATEWAY_SPANS = {  # auth is on: the user's token is forwarded, so there is no token fetch (and no span)
    "agentcore.gateway.connect",
    "agentcore.gateway.search",
    "agentcore.gateway.call_tool",
}
OWN_SPANS = set(MEMORY_SPANS) | GATEWAY_SPANS


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The process's SDK provider (installed here if none is) exporting to memory, and botocore spans."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "another test installed a non-SDK global tracer provider"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = BotocoreInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield exporter
    instrumentor.uninstrument()
    exporter.shutdown()  # later spans are dropped, not kept in memory


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


@pytest.fixture
def memory(tables: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[DataPlane]:
    """The local Memory for the wired app, with one long-term record of the user.

    The identity double owns AWS_ENDPOINT_URL_BEDROCK_AGENTCORE, so the memory client gets its endpoint
    explicitly through the factory's shared-client hook.
    """
    namespaces = {"facts": "/facts/{actorId}"}
    store = MemoryStore(tmp_path / "memory.sqlite3", memory_id=MEMORY_ID, namespaces=namespaces)
    store.add_record(f"/facts/{ACTOR}", RECORD_TEXT, score=0.9)
    with DataPlane(memory=store) as server:
        client = boto3.session.Session().client(
            "bedrock-agentcore",
            region_name=REGION,
            endpoint_url=server.endpoint_url,
            config=Config(retries={"total_max_attempts": 1}),
        )
        monkeypatch.setattr(memory_hooks, "_shared_client", lambda region: client)
        yield server
    store.close()


@pytest.fixture
def traced_server(
    identity: Any,
    user_gateway_url: str,
    memory: DataPlane,
    start_wired: StartWired,
    monkeypatch: Any,
) -> WiredServer:
    """The wired app behind the ASGI server-span middleware (what ADOT's Starlette instrumentation adds)."""
    monkeypatch.setattr(gateway_fixtures, "serve", lambda app: serve(OpenTelemetryMiddleware(app)))
    turns = [
        ToolCall(lambda specs: "orders___get_order", {"order_id": "ORD-1001"}),
        Text("Your order is on its way."),
    ]
    return start_wired(
        turns * 3,
        gateway_url=user_gateway_url,
        env={"MEMORY_ID": MEMORY_ID, "MEMORY_NAMESPACES": json.dumps({"facts": "/facts/{actorId}"})},
    )


def finished(exporter: InMemorySpanExporter, requests: int = 1) -> tuple[ReadableSpan, ...]:
    """All finished spans once `requests` server spans ended: the client has the body a moment before."""
    deadline = time.monotonic() + 30  # returns as soon as the spans are there
    while True:
        done = exporter.get_finished_spans()
        servers = [s for s in done if s.kind == trace.SpanKind.SERVER and s.parent is None]
        if len(servers) >= requests or time.monotonic() > deadline:
            return done
        time.sleep(0.01)


def by_trace(done: tuple[ReadableSpan, ...]) -> dict[int, list[ReadableSpan]]:
    traces: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in done:
        traces[span.context.trace_id].append(span)
    return traces


def turn_traces(done: tuple[ReadableSpan, ...], session: str) -> list[list[ReadableSpan]]:
    """The traces holding an agent invocation span of `session`, oldest first."""
    found = [
        spans
        for spans in by_trace(done).values()
        if any(s.name.startswith("invoke_agent") and s.attributes.get("session.id") == session for s in spans)
    ]
    return sorted(found, key=lambda spans: min(s.start_time or 0 for s in spans))


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """Names of the span's ancestors within its trace, nearest first."""
    index = {s.context.span_id: s for s in spans}
    names, parent = [], span.parent
    while parent is not None and parent.span_id in index:
        names.append(index[parent.span_id].name)
        parent = index[parent.span_id].parent
    return names


def test_a_turn_is_one_trace_with_agent_model_tool_memory_and_gateway_spans(traced_server, spans):
    reply = traced_server.ask(ORDER_PROMPT, session=SESSION_A)
    assert reply.status == 200 and reply.text == "Your order is on its way."

    (turn,) = turn_traces(finished(spans), SESSION_A)
    names = [s.name for s in turn]
    (root,) = [s for s in turn if s.parent is None]  # the request's server span; nothing else is a root
    assert root.kind == trace.SpanKind.SERVER
    (agent,) = [s for s in turn if s.name.startswith("invoke_agent")]
    assert agent.attributes["session.id"] == SESSION_A
    assert len(named(turn, "chat")) == 2  # tool call, then the answer
    (tool,) = named(turn, "execute_tool orders___get_order")
    assert tool.attributes["session.id"] == SESSION_A
    for name in OWN_SPANS:
        assert name in names, f"{name} missing from the turn's trace: {sorted(set(names))}"
    assert len(named(turn, "agentcore.memory.create_event")) >= 2  # the prompt and the answer
    # The tool call goes through the gateway inside Strands' tool span; search and memory inside the agent.
    (call,) = named(turn, "agentcore.gateway.call_tool")
    assert call.attributes["agentcore.gateway.tool"] == "orders___get_order"
    assert tool.name in ancestors(call, turn)
    for name in ("agentcore.gateway.search", "agentcore.memory.retrieve_memory_records"):
        assert agent.name in ancestors(named(turn, name)[0], turn)


def test_own_spans_carry_the_session_and_the_operation_but_no_content(traced_server, spans):
    traced_server.ask(ORDER_PROMPT, session=SESSION_A)

    own = [s for s in finished(spans) if s.name in OWN_SPANS]
    assert {s.name for s in own} == OWN_SPANS
    for span in own:
        attributes = dict(span.attributes or {})
        assert attributes["session.id"] == SESSION_A, span.name
        if span.name in MEMORY_SPANS:
            assert attributes["agentcore.memory.id"] == MEMORY_ID
            assert span.name == f"agentcore.memory.{attributes['agentcore.memory.operation']}"
        else:
            assert span.name == f"agentcore.gateway.{attributes['agentcore.gateway.stage']}"
        text = " ".join(str(value) for value in attributes.values())
        for secret in (ORDER_PROMPT, "ORD-1001", RECORD_TEXT, "on its way", ACTOR):
            assert secret not in text, f"{span.name} records {secret!r}"


def test_memory_aws_calls_are_children_of_their_operation_spans(traced_server, spans):
    traced_server.ask(ORDER_PROMPT, session=SESSION_A)

    (turn,) = turn_traces(finished(spans), SESSION_A)
    index = {s.context.span_id: s for s in turn}
    for operation, aws_call in MEMORY_SPANS.items():
        calls = named(turn, aws_call)
        assert calls, f"no {aws_call} span in the turn's trace"
        for call in calls:
            assert call.kind == trace.SpanKind.CLIENT and call.parent is not None
            assert index[call.parent.span_id].name == operation
    # No agent-side AWS call escaped into a trace of its own (the gateway double's DynamoDB calls may).
    orphans = [
        s for s in spans.get_finished_spans() if s.parent is None and s.name.startswith("Bedrock AgentCore.")
    ]
    assert orphans == []


def test_each_turn_and_each_session_has_its_own_trace(traced_server, spans):
    traced_server.ask(ORDER_PROMPT, session=SESSION_A)
    traced_server.ask(ORDER_PROMPT, session=SESSION_B)
    traced_server.ask(ORDER_PROMPT, session=SESSION_A)

    done = finished(spans, requests=3)
    turns_a, turns_b = turn_traces(done, SESSION_A), turn_traces(done, SESSION_B)
    assert len(turns_a) == 2 and len(turns_b) == 1
    for session, turns in ((SESSION_A, turns_a), (SESSION_B, turns_b)):
        for turn in turns:
            sessions = {s.attributes.get("session.id") for s in turn} - {None}
            assert sessions == {session}  # nothing of the other session leaked into this trace
            assert {"agentcore.memory.create_event", "agentcore.gateway.search"} <= {s.name for s in turn}
    # Every span of ours belongs to exactly one turn of its own session.
    turn_ids = {id(s) for turn in turns_a + turns_b for s in turn}
    assert all(id(s) in turn_ids for s in done if s.name in OWN_SPANS)
    # A new agent loads the session's history once: in its first turn, not later ones.
    assert [len(named(turn, "agentcore.memory.list_events")) for turn in turns_a] == [1, 0]


def _span_text(done: tuple[ReadableSpan, ...]) -> str:
    """Every attribute and event attribute value of every span, as one string."""
    parts = []
    for span in done:
        parts += [str(value) for value in (span.attributes or {}).values()]
        for event in span.events:
            parts += [str(value) for value in (event.attributes or {}).values()]
    return " ".join(parts)


MESSAGE_EVENTS = {"gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message"}
CONVERSATION_SPANS = {
    "chat",
    "execute_event_loop_cycle",
    "invoke_agent",
}  # those given the whole conversation


@pytest.mark.parametrize("redacted", [True, False])
def test_redacted_messages_are_not_put_on_spans_as_events_of_nothing(
    redacted, traced_server, spans, monkeypatch
):
    """Strands puts one event per conversation message on every model-call and cycle span; redacted they say
    "[REDACTED]" and nothing else, so the wired app leaves them out (redacted_tracing.py). With content
    traced (no redaction) they stay."""
    from agentcore_agent import redacted_tracing
    from strands.telemetry import tracer as strands_tracer

    from stacks.runtime_stack import REDACT_TRACE_CONTENT

    assert isinstance(strands_tracer.get_tracer(), redacted_tracing.RedactedTracer)  # wire_app installed it
    if redacted:
        variable = REDACT_TRACE_CONTENT["OTEL_SEMCONV_STABILITY_OPT_IN"]
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", variable)
    else:
        monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    monkeypatch.setattr(strands_tracer, "_tracer_instance", None)
    assert isinstance(redacted_tracing.install(), strands_tracer.Tracer)
    assert isinstance(strands_tracer.get_tracer(), redacted_tracing.RedactedTracer)

    session = f"{SESSION_B}-events-{redacted}"
    traced_server.ask(ORDER_PROMPT, session=session)
    traced_server.ask(ORDER_PROMPT, session=session)  # a longer conversation: more messages per model call
    done = finished(spans, requests=2)
    model_calls = [s for s in done if s.name == "chat"]
    conversation_spans = [s for s in done if s.name.split(" ")[0] in CONVERSATION_SPANS]
    message_events = [e.name for s in conversation_spans for e in s.events if e.name in MESSAGE_EVENTS]
    assert len(model_calls) == 4
    assert any(e.name == "gen_ai.choice" for s in model_calls for e in s.events)  # the rest is kept
    assert message_events == [] if redacted else len(message_events) > 2 * len(model_calls)


@pytest.mark.parametrize("redacted", [True, False])
def test_the_stacks_redaction_setting_keeps_conversation_content_out_of_every_span(
    redacted, traced_server, spans, monkeypatch
):
    """With the runtime's OTEL_SEMCONV_STABILITY_OPT_IN (stacks/runtime_stack.py) no span carries the prompt,
    the answer, memory records or tool data; without it Strands records them (so this test can fail)."""
    from strands.telemetry import tracer as strands_tracer

    from stacks.runtime_stack import REDACT_TRACE_CONTENT

    if redacted:
        monkeypatch.setenv(
            "OTEL_SEMCONV_STABILITY_OPT_IN", REDACT_TRACE_CONTENT["OTEL_SEMCONV_STABILITY_OPT_IN"]
        )
    else:
        monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    monkeypatch.setattr(strands_tracer, "_tracer_instance", None)  # the tracer reads the variable once

    marker = "my name is Zebulon Quartz"  # in the prompt only (the tool descriptions quote ORDER_PROMPT)
    traced_server.ask(f"{ORDER_PROMPT} {marker}", session=f"{SESSION_A}-{redacted}")
    text = _span_text(finished(spans))
    secrets = (marker, RECORD_TEXT, "on its way", "12 Harbour Street")  # prompt, memory, answer, tool result
    leaked = [secret for secret in secrets if secret in text]
    assert leaked == [] if redacted else len(leaked) == len(secrets)


def test_the_instrumented_app_records_one_server_span_per_request_not_one_per_sse_event(spans):
    """ADOT's Starlette instrumentation adds an `http send` span per ASGI message (per SSE event of an
    answer); the app keeps only the server span (telemetry.without_send_receive_spans)."""
    from agentcore_agent import telemetry
    from opentelemetry.instrumentation.starlette import StarletteInstrumentor
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    def events(request: Any) -> StreamingResponse:
        chunks = (f"data: {index}\n\n".encode() for index in range(5))
        return StreamingResponse(chunks, media_type="text/event-stream")

    app = Starlette(routes=[Route("/invocations", events, methods=["POST"])])
    StarletteInstrumentor.instrument_app(app)
    telemetry.without_send_receive_spans(app)
    with TestClient(app) as client:
        assert client.post("/invocations", content=b"{}").text.count("data:") == 5
    done = spans.get_finished_spans()
    assert [(s.name, s.kind) for s in done] == [("POST /invocations", trace.SpanKind.SERVER)]
