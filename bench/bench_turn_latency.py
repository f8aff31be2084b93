"""Benchmark: time from an `/invocations` request to the model call, with slow memory, identity and gateway.

    python bench/bench_turn_latency.py [--requests 15] [--memory-ms 150] [--token-ms 100] [--search-ms 200]

The agent app is built by `__main__.wire_app` (the production wiring, auth on) and served over real HTTP;
every dependency is a local wire-level double with latency injected at the wire: AgentCore Memory (the
local stage's SQLite Memory behind its data plane: RetrieveMemoryRecords, ListEvents, CreateEvent each wait
`--memory-ms`),
AgentCore Identity (GetResourceOauth2Token waits `--token-ms`; with auth on it is never called, since
the user's own token goes to the gateway) and the MCP gateway (verifying the user's JWT; each semantic
search waits `--search-ms`). The model is the scripted double; it notes when it is called.

Measured per request: client send → the model's `stream()` starts, for
* a follow-up turn (same session: the agent is cached, the gateway session is up);
* a new session of a known user (a new agent: its history is loaded from memory).
Goal (issue 10): median ≤ the slowest single dependency + 30 ms. The sum of the dependencies a turn touches
is printed beside it: that is what a pipeline calling them one after the other costs.
Timings are a measurement, never a test; the first request (cold token and MCP connect) is not counted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import reporting  # bench/reporting.py (this directory is on sys.path when a bench runs)

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "agent_src")]

REGION = "us-east-1"
MEMORY_ID = "benchMemory-abcdefghij"
GATEWAY_TOKEN = "bench-m2m-token"
ACTOR = "bench-user-0001"
PROMPT = "where is my order ORD-1001?"
SLACK_S = 0.030


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=15, help="measured requests per scenario")
    parser.add_argument("--memory-ms", type=float, default=150)
    parser.add_argument("--token-ms", type=float, default=100)
    parser.add_argument("--search-ms", type=float, default=200)
    args = parser.parse_args()
    if args.requests < 1 or min(args.memory_ms, args.token_ms, args.search_ms) < 0:
        parser.error("--requests must be ≥ 1 and latencies ≥ 0")
    return args


def main() -> int:
    args = parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[name] = "testing"
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = REGION

    import logging

    import boto3
    from agentcore_agent import memory_hooks
    from agentcore_agent.__main__ import wire_app
    from agentcore_agent.settings import Settings
    from strands import ModelRetryStrategy

    from local.data_plane import DataPlane
    from local.gateway import JwtAuthorizer, running_gateway
    from local.identity_server import running_identity
    from local.memory_store import MemoryStore
    from local.oidc_issuer import OidcIssuer
    from local.scripted_model import ScriptedModel, Text
    from tests.agent.conftest import serve

    class TimedModel(ScriptedModel):
        """The scripted double, noting when each model call starts."""

        def __init__(self) -> None:
            super().__init__([Text("Your order is on its way.")])
            self.called_at: list[float] = []

        async def stream(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            self.called_at.append(time.perf_counter())
            async for event in super().stream(*args, **kwargs):
                yield event

    logging.disable(logging.WARNING)  # the per-request INFO lines of the SDK and the agent are noise here
    model = TimedModel()
    with ExitStack() as stack:
        state = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        namespaces = {"facts": "/facts/{actorId}"}
        store = MemoryStore(state / "memory.sqlite3", memory_id=MEMORY_ID, namespaces=namespaces)
        stack.callback(store.close)
        memory = stack.enter_context(DataPlane(memory=store))
        identity = stack.enter_context(running_identity(GATEWAY_TOKEN))
        issuer = stack.enter_context(OidcIssuer())
        authorizer = JwtAuthorizer(issuer.issuer, frozenset({"client-a"}))
        gateway_url = stack.enter_context(
            running_gateway(authorizer=authorizer, search_delay_seconds=args.search_ms / 1000)
        )
        os.environ["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"] = identity.endpoint_url
        memory_client = boto3.session.Session().client(
            "bedrock-agentcore", region_name=REGION, endpoint_url=memory.endpoint_url
        )
        memory_hooks._shared_client = lambda region: memory_client  # the local Memory, not identity
        settings = Settings.from_env(
            {
                "AWS_REGION": REGION,
                "MODEL_ID": "bench",
                "OIDC_DISCOVERY_URL": issuer.discovery_url,
                "ALLOWED_CLIENTS": "client-a",
                "MEMORY_ID": MEMORY_ID,
                "MEMORY_NAMESPACES": json.dumps(namespaces),
                "GATEWAY_URL": gateway_url,
                "GATEWAY_CREDENTIAL_PROVIDER": "bench-provider",
                "GATEWAY_SCOPES": "bench/invoke",
            }
        )
        app, close = wire_app(
            settings,
            model_factory=lambda _settings: model,
            retry_factory=lambda: ModelRetryStrategy(max_attempts=1),
        )
        stack.callback(close)
        port = stack.enter_context(serve(app))
        token = issuer.mint(sub=ACTOR, client_id="client-a", role="customer", customer_id="CUST-001")

        def turn(session: str) -> float:
            """Seconds from sending the request to the model call; the answer is read to its end."""
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "WorkloadAccessToken": "bench-workload-token",
                "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session,
            }
            calls = len(model.called_at)
            began = time.perf_counter()
            connection.request("POST", "/invocations", json.dumps({"prompt": PROMPT}), headers)
            response = connection.getresponse()
            body = response.read()
            connection.close()
            degraded = b"tools are unavailable" in body  # the gateway refused or failed: not a fair run
            if (
                response.status != 200
                or b"on its way" not in body
                or degraded
                or len(model.called_at) <= calls
            ):
                raise SystemExit(f"unexpected answer {response.status}: {body[:300]!r}")
            return model.called_at[calls] - began

        session_id = "bench-session-{:04d}-0123456789-0123456789-01"
        turn(session_id.format(0))  # cold: token fetch, MCP connect, imports
        memory.delay_seconds = args.memory_ms / 1000
        identity.delay_seconds = args.token_ms / 1000
        follow_ups = [turn(session_id.format(0)) for _ in range(args.requests)]
        new_sessions = [turn(session_id.format(index)) for index in range(1, args.requests + 1)]

    memory_s, search_s = args.memory_ms / 1000, args.search_ms / 1000
    slowest = max(memory_s, search_s)
    rows = [
        # (scenario, samples, the calls a one-after-the-other pipeline makes before the model)
        ("follow-up turn (retrieve, write prompt, search)", follow_ups, 2 * memory_s + search_s),
        ("new session (+ load history)", new_sessions, 3 * memory_s + search_s),
    ]
    print(
        f"# Time to the model call (memory {args.memory_ms:g} ms, token {args.token_ms:g} ms, "
        f"search {args.search_ms:g} ms at the wire; {args.requests} requests each)\n"
    )
    print("| Scenario | Median | Max | Sequential sum | Goal ≤ slowest + 30 ms |")
    print("|---|---|---|---|---|")
    for name, samples, sequential in rows:
        median = statistics.median(samples)
        verdict = reporting.verdict(median <= slowest + SLACK_S, f"time to the model call, {name}")
        print(
            f"| {name} | {median * 1000:.0f} ms | {max(samples) * 1000:.0f} ms | "
            f"{sequential * 1000:.0f} ms | {verdict} ({(slowest + SLACK_S) * 1000:.0f} ms) |"
        )
    print(
        "\nAuth is on, so the user's own verified token is forwarded to the gateway: no token is fetched and "
        "--token-ms costs nothing (it applies to the agent's M2M token, used only with auth off)."
    )
    return reporting.status()


if __name__ == "__main__":
    sys.exit(main())
