"""Local Bedrock Runtime ConverseStream for `MODEL=scripted`: the agent's real `BedrockModel` talks to it.

The agent is pointed here with `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (endpoint configuration only: the agent
code path is the deployed one). `POST /model/{modelId}/converse-stream` answers 200
`application/vnd.amazon.eventstream` with the events of a Converse stream (messageStart, contentBlockStart
for a toolUse, contentBlockDelta with text or toolUse input, contentBlockStop, messageStop with its
stopReason, metadata); the reply comes from `scripted_replies.reply_to`. Unsigned requests get 403
AccessDeniedException like the service.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

from local.eventstream import EVENTSTREAM, event_message
from local.http_server import JsonHandler, LocalServer
from local.scripted_replies import Reply, TextReply, reply_to

TEXT_CHUNK = 40  # characters per contentBlockDelta: the answer streams like a model's


def converse_stream(reply: Reply) -> bytes:
    """The event-stream body of one successful ConverseStream call."""
    events = [event_message("messageStart", {"role": "assistant"})]
    if isinstance(reply, TextReply):
        for start in range(0, len(reply.text), TEXT_CHUNK):
            delta = {"contentBlockIndex": 0, "delta": {"text": reply.text[start : start + TEXT_CHUNK]}}
            events.append(event_message("contentBlockDelta", delta))
        stop_reason = "end_turn"
    else:
        start = {"toolUse": {"toolUseId": reply.tool_use_id, "name": reply.name}}
        events.append(event_message("contentBlockStart", {"contentBlockIndex": 0, "start": start}))
        delta = {"toolUse": {"input": json.dumps(reply.arguments)}}
        events.append(event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}))
        stop_reason = "tool_use"
    events += [
        event_message("contentBlockStop", {"contentBlockIndex": 0}),
        event_message("messageStop", {"stopReason": stop_reason}),
        event_message(
            "metadata",
            {"usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}, "metrics": {"latencyMs": 0}},
        ),
    ]
    return b"".join(events)


class ScriptedBedrock:
    """The ConverseStream endpoint on 127.0.0.1 (free port)."""

    def __init__(self) -> None:
        self._server = LocalServer(self._handler_class(), name="local-bedrock")

    @property
    def endpoint_url(self) -> str:
        """The value for AWS_ENDPOINT_URL_BEDROCK_RUNTIME."""
        return self._server.url

    def start(self) -> ScriptedBedrock:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @staticmethod
    def _handler_class() -> type[JsonHandler]:
        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path).path.strip("/").split("/")
                raw = self.read_body()
                if len(parts) != 3 or parts[0] != "model" or parts[2] != "converse-stream":
                    return self._error(400, "ValidationException", f"{self.path} is not ConverseStream")
                if not self.lowered_headers().get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
                    return self._error(403, "AccessDeniedException", "request is not SigV4-signed")
                try:
                    body: dict[str, Any] = json.loads(raw) if raw else {}
                except json.JSONDecodeError:
                    return self._error(400, "ValidationException", "the request body is not JSON")
                self.send_bytes(200, converse_stream(reply_to(body)), {"Content-Type": EVENTSTREAM})

            def _error(self, status: int, code: str, message: str) -> None:
                self.send_json(status, {"message": message}, {"x-amzn-ErrorType": code})

        return Handler
