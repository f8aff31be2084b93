"""Local Bedrock Runtime ConverseStream (`MODEL=scripted` and the tests) for the agent's real `BedrockModel`.

The agent reaches it through `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (endpoint configuration only: its code path
is the deployed one), so request serialisation, SigV4 signing, botocore's retry handler, error parsing and
event-stream decoding all run for real. Shapes follow botocore's `bedrock-runtime/2023-09-30/service-2.json`:

- `ConverseStream`: `POST /model/{modelId}/converse-stream` (model id URL-encoded), JSON `{messages, system,
  inferenceConfig, toolConfig, ...}` → 200 `application/vnd.amazon.eventstream` with the events of a Converse
  stream (`scripted_model.stream_events`): messageStart, contentBlockStart for a toolUse, contentBlockDelta,
  contentBlockStop, messageStop with its stopReason, metadata.
- Errors before the stream: the status the service model gives the error shape (e.g. 429 for
  `ThrottlingException`), an `x-amzn-ErrorType` header and `{"message": ...}`; unsigned requests get 403
  `AccessDeniedException` like the service.
- Errors inside the stream: after any text, an `exception` message whose `:exception-type` is the camelCase
  stream member (`validationException`, `throttlingException`, ...), then the stream ends.

Replies: a call follows the script of its model id, else the default script (`script(...)`: `Text` and
`ToolCall` turns, `HttpError`, `StreamError`, replayed like `ScriptedModel`); without either (the local
stage) it gets the deterministic rules of `scripted_replies.reply_to`. Every call is recorded with its
arrival time (`time.monotonic()`), so tests count attempts and the gaps between them at the wire.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import botocore

from local.eventstream import EVENTSTREAM, event_message, exception_message
from local.http_server import JsonHandler, LocalServer
from local.scripted_replies import reply_to
from local.scripted_turns import Text, ToolCall, next_turn, stream_events


@cache
def _service_model() -> dict[str, Any]:
    """botocore's bedrock-runtime service model (the newest API version shipped)."""
    data = Path(botocore.__file__).parent / "data" / "bedrock-runtime"
    model_file = sorted(data.glob("*/service-2.json*"))[-1]
    raw = gzip.decompress(model_file.read_bytes()) if model_file.suffix == ".gz" else model_file.read_bytes()
    return json.loads(raw)


def error_statuses() -> dict[str, int]:
    """Every error shape of bedrock-runtime and its HTTP status."""
    shapes = _service_model()["shapes"]
    return {name: s["error"]["httpStatusCode"] for name, s in shapes.items() if s.get("exception")}


def http_errors() -> list[str]:
    """The error shapes ConverseStream may answer with before its stream starts."""
    return [error["shape"] for error in _service_model()["operations"]["ConverseStream"]["errors"]]


def stream_errors() -> list[str]:
    """The error shapes that are members of the ConverseStream event stream (sent as `exception` messages)."""
    model = _service_model()
    members = model["shapes"]["ConverseStreamOutput"]["members"].values()
    return [m["shape"] for m in members if model["shapes"][m["shape"]].get("exception")]


@dataclass(frozen=True)
class HttpError:
    """The call fails before any stream: the modelled status of `code`, e.g. 429 for ThrottlingException."""

    code: str = "ThrottlingException"
    message: str = "Too many requests, please wait before trying again."


@dataclass(frozen=True)
class StreamError:
    """200, `text` (if any) streamed, then an in-stream `exception` message for `code` (PascalCase shape)."""

    code: str = "ThrottlingException"
    message: str = "injected in-stream failure"
    text: str = ""


WireTurn = Text | ToolCall | HttpError | StreamError


@dataclass(frozen=True)
class Received:
    """One ConverseStream call as it arrived; `messages`, `tool_specs`, `system_prompt` read its body."""

    model_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def tool_specs(self) -> list[dict[str, Any]]:
        tools = (self.body.get("toolConfig") or {}).get("tools") or []
        return [tool["toolSpec"] for tool in tools if "toolSpec" in tool]

    @property
    def system_prompt(self) -> str | None:
        texts = [block["text"] for block in self.body.get("system") or [] if "text" in block]
        return "".join(texts) if texts else None


@dataclass
class Script:
    """The turns of one model id, replayed one per call (the last repeats), and the calls it answered."""

    turns: list[WireTurn]
    requests: list[Received] = field(default_factory=list)


class ConverseStreamServer:
    """Serves ConverseStream on 127.0.0.1 (free port); `endpoint_url` is AWS_ENDPOINT_URL_BEDROCK_RUNTIME."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._scripts: dict[str | None, Script] = {}
        self._lock = threading.Lock()
        self._server = LocalServer(self._handler_class(), name="local-bedrock")

    @property
    def endpoint_url(self) -> str:
        return self._server.url

    def script(self, *turns: WireTurn, model_id: str | None = None) -> Script:
        """Answer the calls of `model_id` (None: every model id without its own script) with `turns`."""
        next_turn(turns, 1)  # refuses an empty script
        with self._lock:
            script = self._scripts[model_id] = Script(list(turns))
        return script

    def reset(self) -> None:
        """Forget every script and recorded call."""
        with self._lock:
            self._scripts.clear()
            self.requests.clear()

    def arrivals(self) -> list[float]:
        """The arrival times of the recorded calls, in order."""
        with self._lock:
            return [r.at for r in self.requests]

    def start(self) -> ConverseStreamServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _reply(self, received: Received) -> WireTurn:
        with self._lock:
            self.requests.append(received)
            script = self._scripts.get(received.model_id) or self._scripts.get(None)
            if script is None:
                return reply_to(received.body)
            script.requests.append(received)
            return next_turn(script.turns, len(script.requests))

    def _handler_class(self) -> type[JsonHandler]:
        server = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path).path.strip("/").split("/")
                raw = self.read_body()
                if len(parts) != 3 or parts[0] != "model" or parts[2] != "converse-stream":
                    return self._error("ValidationException", f"{self.path} is not ConverseStream")
                headers = self.lowered_headers()
                if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
                    return self._error("AccessDeniedException", "request is not SigV4-signed")
                try:
                    body: dict[str, Any] = json.loads(raw) if raw else {}
                except json.JSONDecodeError:
                    return self._error("ValidationException", "the request body is not JSON")
                received = Received(unquote(parts[1]), body, headers, time.monotonic())
                reply = server._reply(received)
                if isinstance(reply, HttpError):
                    return self._error(reply.code, reply.message)
                self.send_bytes(200, _stream(reply, received), {"Content-Type": EVENTSTREAM})

            def _error(self, code: str, message: str) -> None:
                status = error_statuses().get(code, 400)
                self.send_json(status, {"message": message}, {"x-amzn-ErrorType": f"{code}:http://internal"})

        return Handler


def _stream(reply: Text | ToolCall | StreamError, received: Received) -> bytes:
    """The event-stream body of a 200 reply."""
    if isinstance(reply, StreamError):
        events = [event_message("messageStart", {"role": "assistant"})]
        if reply.text:
            delta = {"contentBlockIndex": 0, "delta": {"text": reply.text}}
            events.append(event_message("contentBlockDelta", delta))
        return b"".join([*events, exception_message(reply.code, reply.message)])
    return b"".join(
        event_message(name, payload)
        for event in stream_events(reply, received)
        for name, payload in event.items()
    )


@contextmanager
def running_converse_stream() -> Iterator[ConverseStreamServer]:
    """Start the server, yield it, stop it."""
    server = ConverseStreamServer().start()
    try:
        yield server
    finally:
        server.stop()
