"""The local trace receiver: the real OTLP exporter sends to it, `python -m local spans` reads it back."""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import local.traces
from local.traces import TraceReceiver, exports, print_exports, print_turn, spans


def export_a_turn(endpoint: str, session_id: str) -> None:
    """One `invoke_agent` span with a child, sent as the agent sends them (OTLP/HTTP protobuf)."""
    exporter = OTLPSpanExporter(endpoint=endpoint)
    provider = TracerProvider(resource=Resource.create({"service.name": "agentcore-dev-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    turn = {"session.id": session_id}
    with (
        tracer.start_as_current_span("invoke_agent agentcore_agent", attributes=turn),
        tracer.start_as_current_span("execute_tool orders___get_order"),
    ):
        pass
    provider.shutdown()


def test_exported_spans_are_kept_and_read_back_as_otlp_json(receiver: TraceReceiver) -> None:
    export_a_turn(receiver.endpoint_url, "session-1")
    kept = list(spans(receiver.path))
    assert {(span["name"], span["service"]) for span in kept} == {
        ("invoke_agent agentcore_agent", "agentcore-dev-agent"),
        ("execute_tool orders___get_order", "agentcore-dev-agent"),
    }
    out = io.StringIO()
    assert print_turn(receiver.path, out, "session-1") == 0
    tree = [line.rsplit("  ", 1)[0] for line in out.getvalue().splitlines()[1:]]  # without the durations
    assert tree == ["invoke_agent agentcore_agent", "  execute_tool orders___get_order"]
    dumped = io.StringIO()
    assert print_exports(receiver.path, dumped) == 0
    lines = [json.loads(line) for line in dumped.getvalue().splitlines()]
    assert len(lines) == 2 and all("resourceSpans" in line for line in lines)  # one export per span


def test_trace_and_span_ids_are_hex_as_otlp_json_and_x_ray_write_them(receiver: TraceReceiver) -> None:
    export_a_turn(receiver.endpoint_url, "session-1")
    kept = list(spans(receiver.path))
    root = next(span for span in kept if "parentSpanId" not in span)
    child = next(span for span in kept if span is not root)
    assert re.fullmatch(r"[0-9a-f]{32}", root["traceId"]) and re.fullmatch(r"[0-9a-f]{16}", root["spanId"])
    assert child["parentSpanId"] == root["spanId"] and child["traceId"] == root["traceId"]
    out = io.StringIO()
    assert print_turn(receiver.path, out) == 0
    trace = root["traceId"]
    assert out.getvalue().splitlines()[0] == f"trace {trace} (X-Ray 1-{trace[:8]}-{trace[8:]}, 2 spans)"


def test_an_export_is_not_converted_on_the_request_path(
    receiver: TraceReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON mapping is pure Python (~7 ms of the stage's CPU per tool turn): it runs only when read."""
    conversions: list[object] = []
    real = local.traces.MessageToDict
    monkeypatch.setattr(local.traces, "MessageToDict", lambda message: conversions.append(1) or real(message))
    export_a_turn(receiver.endpoint_url, "session-2")
    assert conversions == [] and receiver.path.stat().st_size > 0
    assert len(list(exports(receiver.path))) == 2 and len(conversions) == 2


def test_a_body_that_is_not_an_export_is_refused_and_not_kept(receiver: TraceReceiver) -> None:
    request = urllib.request.Request(
        receiver.endpoint_url,
        data=b"\xff\xff not protobuf",
        headers={"Content-Type": "application/x-protobuf"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert b"not an OTLP trace export" in refused.value.read()
    assert not receiver.path.exists()
    assert print_turn(receiver.path, io.StringIO()) == 1


def test_a_record_cut_short_by_a_killed_stage_ends_the_file(receiver: TraceReceiver) -> None:
    export_a_turn(receiver.endpoint_url, "session-3")
    whole = receiver.path.read_bytes()
    receiver.path.write_bytes(whole + whole[: len(whole) // 3])  # the stage died while writing a record
    assert len(list(exports(receiver.path))) == 2


@pytest.mark.parametrize("argv", [["spans"], ["spans", "--json"]])
def test_a_file_that_is_not_a_traces_file_is_one_line_not_a_traceback(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.__main__ import main
    from local.traces import TRACES_FILE

    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path))
    (tmp_path / TRACES_FILE).write_bytes(b"\x00\x00\x00\x04\xff\xff\xff\xff")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a traces file" in err and "Traceback" not in err


def test_no_traces_yet_is_said_on_stderr_for_json_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.__main__ import main

    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path))
    assert main(["spans", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "no traces in" in captured.err
