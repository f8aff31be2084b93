"""Traces of the local run: an OTLP/HTTP receiver keeping every export, and a printer for one turn.

The agent runs under `opentelemetry-instrument` as in the image, exporting spans with the standard OTLP
exporter (`http/protobuf`) to `POST /v1/traces` here. Each export request is checked (parsed) and appended
to `<state>/traces.otlp` as it came, one record each: a 4-byte big-endian length, then the
`ExportTraceServiceRequest` bytes. It is turned into OTLP JSON (`{"resourceSpans": [...]}`, the protobuf's
JSON mapping, with trace and span ids in hex as OTLP/JSON has them, not the mapping's base64) only when
read: that conversion is pure Python and cost the stage ~7 ms of CPU per tool turn,
on the cores the agent's turn runs on. `python -m local spans` prints the spans of the last turn (or of
`--session <id>`) as an indented tree under its trace id (hex, and in X-Ray's form, as CloudWatch shows it);
`python -m local spans --json` prints every export as a JSON line.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from local.http_server import JsonHandler, LocalServer

TRACES_FILE = "traces.otlp"
_LENGTH = struct.Struct(">I")
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class TraceReceiver:
    """OTLP/HTTP traces endpoint on 127.0.0.1 (free port) appending to `<state>/traces.otlp`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / TRACES_FILE
        self._lock = threading.Lock()
        self._server = LocalServer(self._handler_class(), name="local-traces")

    @property
    def endpoint_url(self) -> str:
        """The value for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT."""
        return f"{self._server.url}/v1/traces"

    def start(self) -> TraceReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _write(self, body: bytes) -> None:
        ExportTraceServiceRequest().ParseFromString(body)  # refuses what is not an export (C parser: fast)
        with self._lock, self.path.open("ab") as out:
            out.write(_LENGTH.pack(len(body)) + body)

    def _handler_class(self) -> type[JsonHandler]:
        receiver = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] != "/v1/traces":
                    self.send_error(404)
                    return
                try:
                    receiver._write(self.read_body())
                except Exception as error:  # a malformed export is refused, never crashes the stage
                    self.send_json(400, {"message": f"not an OTLP trace export: {error}"})
                    return
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_bytes(200, payload, {"Content-Type": "application/x-protobuf"})

        return Handler


def exports(path: Path) -> Iterator[dict[str, Any]]:
    """Every export request kept in `path`, as OTLP JSON; a record cut short (the stage was killed while
    writing it) ends the file. Raises ValueError when a record is not an export."""
    if not path.exists():
        return
    data = path.read_bytes()
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > len(data):
            return
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(data[offset : offset + length])
        except DecodeError:
            raise ValueError(
                f"{path} is not a traces file: the record at byte {offset} does not parse"
            ) from None
        offset += length
        yield _hex_ids(MessageToDict(request))


def _hex_ids(export: dict[str, Any]) -> dict[str, Any]:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping writes bytes as base64."""
    for resource_spans in export.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for item in (span, *span.get("links", [])):
                    for field in _ID_FIELDS:
                        if item.get(field):
                            item[field] = base64.b64decode(item[field]).hex()
    return export


def xray_trace_id(trace_id: str) -> str:
    """A 32-hex-digit trace id as X-Ray writes it: `1-<first 8 digits>-<last 24>`."""
    return f"1-{trace_id[:8]}-{trace_id[8:]}"


def print_exports(path: Path, out: TextIO) -> int:
    """Print every export as one line of OTLP JSON; 1 when there is none."""
    count = 0
    for export in exports(path):
        out.write(json.dumps(export, separators=(",", ":")) + "\n")
        count += 1
    return 0 if count else 1


def spans(path: Path) -> Iterator[dict[str, Any]]:
    """Every span kept in `path`, with its service name added as `service`."""
    for export in exports(path):
        for resource_spans in export.get("resourceSpans", []):
            resource = attributes(resource_spans.get("resource", {}))
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    yield {**span, "service": resource.get("service.name", "")}


def turns(path: Path, session_id: str | None = None) -> list[list[dict[str, Any]]]:
    """The spans of each trace, in the order the traces first appear (of `session_id` only, when given); the
    traces of turns (an `invoke_agent` span) when there are any, else every trace."""
    traces: dict[str, list[dict[str, Any]]] = {}
    for span in spans(path):
        traces.setdefault(span["traceId"], []).append(span)
    chosen = [
        trace
        for trace in traces.values()
        if session_id is None or any(attributes(s).get("session.id") == session_id for s in trace)
    ]
    return [t for t in chosen if any(s["name"].startswith("invoke_agent") for s in t)] or chosen


def span_tree(trace: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """A trace's spans in tree order (each after its parent, siblings by start time), with their depth; a span
    whose parent was not exported is a root."""
    children: dict[str, list[dict[str, Any]]] = {}
    ids = {span["spanId"] for span in trace}
    for span in sorted(trace, key=lambda s: int(s.get("startTimeUnixNano", 0))):
        parent = span.get("parentSpanId", "")
        children.setdefault(parent if parent in ids else "", []).append(span)
    ordered: list[tuple[int, dict[str, Any]]] = []

    def visit(span: dict[str, Any], depth: int) -> None:
        ordered.append((depth, span))
        for child in children.get(span["spanId"], []):
            visit(child, depth + 1)

    for root in children.get("", []):
        visit(root, 0)
    return ordered


def duration_ms(span: dict[str, Any]) -> float:
    return (int(span.get("endTimeUnixNano", 0)) - int(span.get("startTimeUnixNano", 0))) / 1e6


def print_turn(path: Path, out: TextIO, session_id: str | None = None) -> int:
    """Print the spans of the last trace (or the last trace of `session_id`); 1 when there is none."""
    found = turns(path, session_id)
    if not found:
        out.write(f"no traces in {path}" + (f" for session {session_id}" if session_id else "") + "\n")
        return 1
    chosen = found[-1]
    trace_id = chosen[0]["traceId"]
    out.write(f"trace {trace_id} (X-Ray {xray_trace_id(trace_id)}, {len(chosen)} spans)\n")
    for depth, span in span_tree(chosen):
        error = "  ERROR" if span.get("status", {}).get("code", "") == "STATUS_CODE_ERROR" else ""
        out.write(f"{'  ' * depth}{span['name']}  {duration_ms(span):.1f} ms{error}\n")
    return 0


def attributes(item: dict[str, Any]) -> dict[str, Any]:
    """An OTLP JSON attribute list as a dict of plain values."""
    return {
        attribute["key"]: next(iter(attribute.get("value", {}).values()), None)
        for attribute in item.get("attributes", [])
    }
