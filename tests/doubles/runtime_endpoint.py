"""Test double for the AgentCore Runtime invocation URL, as far as inbound auth goes.

What it reproduces: `POST /runtimes/<arn>/invocations?qualifier=...`; without `Authorization: Bearer ...` the
JWT authorizer refuses with HTTP 401, header `x-amzn-ErrorType: AccessDeniedException` and a JSON message.
With a token (or with `require_auth = False`, a runtime deployed without an authorizer) it answers 200 with an
SSE stream of `answer`'s events, one `data:` line each, as the agent streams them (default: one text event).
The token is not validated: this double only decides "token or no token"; tests read it from `calls`.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from local.http_server import JsonHandler, LocalServer

RUNTIME_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/dev_agent-AbCdEf1234"


@dataclass
class RuntimeEndpoint:
    """Whether it enforces auth, its URL, and the calls it saw (header names lower-cased)."""

    require_auth: bool = True
    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    answer: list[Any] = field(default_factory=lambda: [{"type": "text", "text": "hello"}])


@contextmanager
def running_runtime(*, require_auth: bool = True) -> Iterator[RuntimeEndpoint]:
    """Serve the double on 127.0.0.1; its `url` looks like the real invocation URL."""
    endpoint = RuntimeEndpoint(require_auth=require_auth)

    class Handler(JsonHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.read_body()
            headers = self.lowered_headers()
            endpoint.calls.append({"path": self.path, "headers": headers, "body": json.loads(body or b"{}")})
            if endpoint.require_auth and not headers.get("authorization", "").startswith("Bearer "):
                self._send(401, {"message": "Missing bearer token"}, "application/json")
                return
            self._send(200, None, "text/event-stream")

        def _send(self, status: int, document: Any, content_type: str) -> None:
            data = (
                json.dumps(document).encode()
                if document is not None
                else b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in endpoint.answer)
            )
            headers: dict[str, str] = {}
            if status in (401, 403):
                headers["x-amzn-ErrorType"] = "AccessDeniedException:http://internal.amazon.com/"
            self.send_bytes(status, data, {**headers, "Content-Type": content_type})

    quoted = urllib.parse.quote(RUNTIME_ARN, safe="")
    with LocalServer(Handler, poll_interval=0.02) as server:
        endpoint.url = f"{server.url}/runtimes/{quoted}/invocations?qualifier=DEFAULT"
        yield endpoint
