"""Test double for Bedrock Runtime ConverseStream: a real HTTP server speaking botocore's wire format.

The real `strands.models.bedrock.BedrockModel` (boto3 `bedrock-runtime`) reaches it through
`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, so request serialisation, SigV4 signing, botocore's retry handler, error
parsing and event-stream decoding all run for real. Shapes follow
`botocore/data/bedrock-runtime/2023-09-30/service-2.json`:

- `ConverseStream`: `POST /model/{modelId}/converse-stream` (model id URL-encoded), JSON `{messages, system,
  inferenceConfig, toolConfig, ...}` → 200 `application/vnd.amazon.eventstream`: the events of a Converse
  stream, written by the local Bedrock (`local.bedrock_runtime.converse_stream`).
- Errors before the stream: the status the service model gives the error shape (e.g. 429 for
  `ThrottlingException`), an `x-amzn-ErrorType` header and `{"message": ...}`.
- Errors inside the stream: after any text chunks, an `exception` message whose `:exception-type` is the
  camelCase stream member (`validationException`, `throttlingException`, ...), then the stream ends.

Replies are scripted in order (`script(...)`); `always(...)` answers every later call the same way. Every
request is recorded with its arrival time (`time.monotonic()`), so tests count attempts and measure the gaps
between them at the wire.
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

from local.bedrock_runtime import converse_stream
from local.eventstream import EVENTSTREAM, event_message, exception_message
from local.http_server import JsonHandler, LocalServer
from local.scripted_replies import TextReply


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
class Answer:
    """A successful stream of `text` (the local Bedrock's stream: deltas of 40 characters, `end_turn`)."""

    text: str = "Hello from the fake Bedrock."


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


Reply = Answer | HttpError | StreamError


@dataclass(frozen=True)
class Received:
    """One request the double received."""

    model_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


@dataclass
class _Script:
    queue: list[Reply] = field(default_factory=list)
    fallback: Reply = field(default_factory=Answer)


class ConverseStreamServer:
    """Serves ConverseStream on 127.0.0.1; unscripted calls get `Answer()`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script = _Script()
        self._lock = threading.Lock()
        self._server = LocalServer(self._handler_class(), name="converse-stream-double")

    @property
    def endpoint_url(self) -> str:
        """The value for AWS_ENDPOINT_URL_BEDROCK_RUNTIME."""
        return self._server.url

    def script(self, *replies: Reply) -> None:
        """Answer the next calls with `replies`, in order (after them: the fallback)."""
        with self._lock:
            self._script.queue.extend(replies)

    def always(self, reply: Reply) -> None:
        """Answer every call after the scripted ones with `reply`."""
        with self._lock:
            self._script.fallback = reply

    def reset(self) -> None:
        """Forget the script and the recorded requests."""
        with self._lock:
            self._script = _Script()
            self.requests.clear()

    def arrivals(self) -> list[float]:
        """The arrival times of the recorded requests, in order."""
        with self._lock:
            return [r.at for r in self.requests]

    def start(self) -> ConverseStreamServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            return self._script.queue.pop(0) if self._script.queue else self._script.fallback

    def _handler_class(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path).path.strip("/").split("/")
                raw = self.read_body()
                if len(parts) != 3 or parts[0] != "model" or parts[2] != "converse-stream":
                    return self._error("ValidationException", f"unknown path {self.path}")
                headers = self.lowered_headers()
                if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
                    return self._error("AccessDeniedException", "request is not SigV4-signed")
                body = json.loads(raw) if raw else {}
                received = Received(unquote(parts[1]), body, headers, time.monotonic())
                reply = double._next_reply(received)
                if isinstance(reply, HttpError):
                    return self._error(reply.code, reply.message)
                self.send_bytes(200, _stream(reply), {"Content-Type": EVENTSTREAM})

            def _error(self, code: str, message: str) -> None:
                status = error_statuses().get(code, 400)
                self.send_json(status, {"message": message}, {"x-amzn-ErrorType": f"{code}:http://internal"})

        return Handler


def _stream(reply: Answer | StreamError) -> bytes:
    """The event-stream body of a 200 reply."""
    if isinstance(reply, Answer):
        return converse_stream(TextReply(reply.text))
    events = [event_message("messageStart", {"role": "assistant"})]
    if reply.text:
        delta = {"contentBlockIndex": 0, "delta": {"text": reply.text}}
        events.append(event_message("contentBlockDelta", delta))
    return b"".join([*events, exception_message(reply.code, reply.message)])


@contextmanager
def running_converse_stream() -> Iterator[ConverseStreamServer]:
    """Start the double, yield it, stop it."""
    server = ConverseStreamServer().start()
    try:
        yield server
    finally:
        server.stop()
