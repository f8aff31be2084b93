"""Fixtures that run the agent's real HTTP server (uvicorn in a thread) with the scripted model injected."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from agentcore_agent.app import create_app
from agentcore_agent.settings import Settings
from strands import ModelRetryStrategy

from local.asgi_server import serving
from local.http_server import bound_socket
from local.oidc_issuer import OidcIssuer
from local.scripted_model import ScriptedModel, Text

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
SESSION_A = "session-a-0123456789-0123456789-0123456789"
SESSION_B = "session-b-0123456789-0123456789-0123456789"
CLIENT = "client-a"


@dataclass
class Reply:
    """One HTTP response, with SSE events decoded when the body is a stream."""

    status: int
    headers: dict[str, str]
    body: bytes
    events: list[Any] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return "".join(e["text"] for e in self.events if isinstance(e, dict) and e.get("type") == "text")


@dataclass
class Server:
    """A running agent server and the model double behind it."""

    port: int
    model: ScriptedModel | None = None  # None when the real BedrockModel talks to a wire double

    def post(
        self,
        payload: Any,
        *,
        session: str | None = SESSION_A,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        body = raw if raw is not None else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if session is not None:
            sent[SESSION_HEADER] = session
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return request(self.port, "POST", "/invocations", body, sent)

    def get(self, path: str) -> Reply:
        return request(self.port, "GET", path, None, {})


def request(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float = 60
) -> Reply:
    """Plain http.client call; an SSE body is read event by event as it streams."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
        if reply_headers.get("content-type", "").startswith("text/event-stream"):
            events, raw = [], b""
            for line in response:
                raw += line
                if line.startswith(b"data: "):
                    events.append(json.loads(line[len(b"data: ") :]))
            return Reply(response.status, reply_headers, raw, events)
        return Reply(response.status, reply_headers, response.read())
    finally:
        conn.close()


@contextmanager
def serve(app: Any) -> Iterator[int]:
    """Run an ASGI app with uvicorn in a daemon thread on a socket bound here (so no other process can take
    the port between choosing and binding it; as the runtime's, its connections have TCP_NODELAY); yield
    the port."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    with serving(app, sock, name="agent server"):
        yield port


def settings(**overrides: Any) -> Settings:
    env = {"AWS_REGION": "us-east-1", "MODEL_ID": "scripted-double", "SYSTEM_PROMPT": "You are a test agent."}
    env.update({k: str(v) for k, v in overrides.items()})
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


StartServer = Callable[..., Server]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """`start_server(turns, env=..., tools=..., retry=...)` → a running Server, stopped after the test."""
    stack: list[Any] = []

    def start(
        turns: list[Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        tools: list[Any] | None = None,
        retry: ModelRetryStrategy | None = None,
    ) -> Server:
        model = ScriptedModel(turns or [Text("Hello from the agent.")])
        app = create_app(
            settings(**(env or {})),
            model_factory=lambda _settings: model,
            tools=tools or [],
            retry_factory=lambda: retry or ModelRetryStrategy(max_attempts=1),
        )
        context = serve(app)
        port = context.__enter__()
        stack.append(context)
        return Server(port=port, model=model)

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def auth_env(issuer: OidcIssuer) -> dict[str, str]:
    return {"OIDC_DISCOVERY_URL": issuer.discovery_url, "ALLOWED_CLIENTS": f"{CLIENT},client-b"}
