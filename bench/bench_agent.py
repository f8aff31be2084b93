"""Benchmark of the agent container: cold start to a healthy /ping, and /invocations overhead without a model.

    python bench/bench_agent.py [--cold-starts 7] [--requests 200] [--record | --output FILE]

(1) Cold start: process start → first 200 from GET /ping, for the agent app with the scripted model (no AWS),
    bare and under `opentelemetry-instrument` with every exporter set to `none`. Goal ≤ 1.5 s.
(2) Overhead: sequential POST /invocations latency of the agent app (Strands loop + ScriptedModel, one
    session) against a bare `BedrockAgentCoreApp` handler returning a constant, both started in this run.
    Goal: agent median ≤ 1.2 x bare median. A bare handler that streams one SSE event is also measured, to
    separate the cost of streaming from the cost of the agent loop.

The same file is also the server entry (`--serve agent|bare-json|bare-sse --port N`) so nothing else in the
repository needs a benchmark-only switch. Timings are a measurement, never a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import reporting  # bench/reporting.py (this directory is on sys.path when a bench runs)

ROOT = Path(__file__).resolve().parents[1]
SESSION = "bench-session-0123456789-0123456789-0123"
COLD_START_GOAL_S = 1.5
OVERHEAD_GOAL = 1.2


def serve(kind: str, port: int) -> None:
    """Run one server flavour on 127.0.0.1:port until killed."""
    sys.path[:0] = [str(ROOT), str(ROOT / "agent_src")]
    if kind == "agent":
        from agentcore_agent.app import create_app
        from agentcore_agent.settings import Settings

        from local.scripted_model import ScriptedModel, Text

        model = ScriptedModel([Text("Hello from the benchmark.", chunks=2)])
        model.requests = _Forgetful()  # keep memory flat over many requests
        settings = Settings.from_env(
            {"AWS_REGION": "us-east-1", "MODEL_ID": "bench", "SESSION_CACHE_SIZE": "4"}
        )
        app = create_app(settings, model_factory=lambda _s: model)
    else:
        from bedrock_agentcore.runtime import BedrockAgentCoreApp

        app = BedrockAgentCoreApp()
        if kind == "bare-json":

            @app.entrypoint
            def constant(payload):
                return {"answer": "Hello from the benchmark."}

        else:

            @app.entrypoint
            async def constant_stream(payload):
                yield {"type": "text", "text": "Hello from the benchmark."}

    app.run(port=port, host="127.0.0.1")


class _Forgetful(list):
    """A `requests` list for ScriptedModel that remembers only its length (the script index needs it)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def append(self, item) -> None:
        self.count += 1
        if not self:
            super().append(item)

    def __len__(self) -> int:
        return self.count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(otel: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "agent_src")])
    if otel:
        env.update(
            OTEL_TRACES_EXPORTER="none",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
            OTEL_PYTHON_DISTRO="aws_distro",
            OTEL_PYTHON_CONFIGURATOR="aws_configurator",
            OTEL_SERVICE_NAME="agentcore_agent_bench",
        )
    return env


def start(
    kind: str, *, otel: bool = False, script: Path | None = None
) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start a server process; return it, its port and seconds from spawn to the first healthy /ping.

    `script --serve kind --port N` runs the server (another bench may pass itself as `script`).
    """
    port = free_port()
    command = [sys.executable, str(script or Path(__file__).resolve()), "--serve", kind, "--port", str(port)]
    if otel:
        instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
        if instrument is None:
            raise SystemExit("opentelemetry-instrument not found next to this Python")
        command = [instrument, *command]
    began = time.perf_counter()
    process = subprocess.Popen(
        command, env=child_env(otel), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server {kind} exited: {process.stderr.read().decode()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return process, port, time.perf_counter() - began
        except OSError:
            time.sleep(0.005)
        finally:
            connection.close()
        if time.perf_counter() - began > 30:
            process.kill()
            raise SystemExit(f"server {kind} did not become healthy in 30 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cold_starts(runs: int, *, otel: bool) -> list[float]:
    times = []
    for _ in range(runs):
        process, _, seconds = start("agent", otel=otel)
        stop(process)
        times.append(seconds)
    return times


def invoke_once(connection: http.client.HTTPConnection) -> float:
    body = json.dumps({"prompt": "hello"}).encode()
    headers = {"Content-Type": "application/json", "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": SESSION}
    began = time.perf_counter()
    connection.request("POST", "/invocations", body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - began
    if response.status != 200 or b"Hello" not in data:
        raise SystemExit(f"unexpected response {response.status}: {data[:300]!r}")
    return elapsed


def overhead(requests: int) -> dict[str, list[float]]:
    """Interleave requests to the three servers so drift (CPU frequency, noise) hits all of them alike."""
    kinds = ["agent", "bare-json", "bare-sse"]
    servers = {kind: start(kind) for kind in kinds}
    connections = {
        kind: http.client.HTTPConnection("127.0.0.1", servers[kind][1], timeout=10) for kind in kinds
    }
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        for _ in range(20):  # warm-up: imports on first use, agent creation, connection set-up
            for kind in kinds:
                invoke_once(connections[kind])
        for _ in range(requests):
            for kind in kinds:
                samples[kind].append(invoke_once(connections[kind]))
    finally:
        for kind in kinds:
            connections[kind].close()
            stop(servers[kind][0])
    return samples


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def report(
    cold: dict[str, list[float]],
    samples: dict[str, list[float]],
    args: argparse.Namespace,
    load_before: float,
) -> str:
    bare_cold, otel_cold = statistics.median(cold["bare"]), statistics.median(cold["otel"])
    agent, bare_json, bare_sse = (statistics.median(samples[k]) for k in ("agent", "bare-json", "bare-sse"))
    ratio = agent / bare_json
    bare_verdict = reporting.verdict(bare_cold <= COLD_START_GOAL_S, "agent cold start")
    otel_verdict = reporting.verdict(otel_cold <= COLD_START_GOAL_S, "agent cold start (opentelemetry)")
    overhead_verdict = reporting.verdict(ratio <= OVERHEAD_GOAL, "agent overhead")
    lines = [
        "# Agent container benchmark",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} "
        "(no container, loopback HTTP, ScriptedModel instead of Bedrock); "
        f"load average at start {load_before:.2f}, at end {os.getloadavg()[0]:.2f}.",
        "",
        "Reproduce: `make bench` (runs `python bench/bench_agent.py`); this run: "
        f"`python bench/bench_agent.py --cold-starts {args.cold_starts} --requests {args.requests}`.",
        "",
        f"## Cold start: process start → first healthy `GET /ping` (median of {args.cold_starts})",
        "",
        "| Launch | Median | Min | Max | Goal ≤ 1.5 s |",
        "|---|---|---|---|---|",
        f"| `python` (agent app + ScriptedModel) | {bare_cold:.3f} s | {min(cold['bare']):.3f} s | "
        f"{max(cold['bare']):.3f} s | {bare_verdict} |",
        f"| `opentelemetry-instrument python` (exporters `none`) | {otel_cold:.3f} s | "
        f"{min(cold['otel']):.3f} s | {max(cold['otel']):.3f} s | "
        f"{otel_verdict} |",
        "",
        f"## `/invocations` overhead without a model (median of {args.requests} sequential requests each, "
        "interleaved, after 20 warm-up requests)",
        "",
        "| Server | Median | p90 | x bare JSON |",
        "|---|---|---|---|",
        f"| agent: auth off, payload check, session LRU, Strands loop, ScriptedModel, SSE | {ms(agent)} | "
        f"{ms(p90(samples['agent']))} | {ratio:.2f}x |",
        f"| bare `BedrockAgentCoreApp`, sync handler returning a constant (JSON) | {ms(bare_json)} | "
        f"{ms(p90(samples['bare-json']))} | 1.00x |",
        f"| bare `BedrockAgentCoreApp`, async generator yielding one SSE event | {ms(bare_sse)} | "
        f"{ms(p90(samples['bare-sse']))} | {bare_sse / bare_json:.2f}x |",
        "",
        f"Goal: agent ≤ {OVERHEAD_GOAL}x bare → **{overhead_verdict}** ({ratio:.2f}x; "
        f"vs the streaming bare handler {agent / bare_sse:.2f}x).",
        "",
        "Notes: the agent figure includes one full Strands event-loop cycle (hooks, message bookkeeping,",
        "tracing spans, deep copies of the conversation, window management) over a 40-message window, and",
        "three SSE events (two text deltas and `end`) each crossing the SDK's worker-loop/thread bridge.",
        "In production a Bedrock call adds hundreds of milliseconds to seconds per turn, so the absolute",
        "overhead (a few ms) matters more than the ratio.",
        "Numbers vary with machine load; compare runs from the same machine only.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-starts", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    reporting.add_arguments(parser, "agent")
    parser.add_argument("--serve", choices=["agent", "bare-json", "bare-sse"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if args.cold_starts < 1 or args.requests < 2:
        parser.error("--cold-starts must be ≥ 1 and --requests ≥ 2")
    load_before = os.getloadavg()[0]
    cold = {
        "bare": cold_starts(args.cold_starts, otel=False),
        "otel": cold_starts(args.cold_starts, otel=True),
    }
    samples = overhead(args.requests)
    text = report(cold, samples, args, load_before)
    reporting.emit(text, args)
    return reporting.status()


if __name__ == "__main__":
    sys.exit(main())
