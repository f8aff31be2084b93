"""Benchmark: a new session's first turn, from process start to the model request, against a minimal agent.

    python bench/bench_first_turn.py [--runs 5] [--memory-ms 300] [--tool-turns 20] [--record | --output FILE]

On AgentCore Runtime every session runs in its own microVM, so a session's first turn is the first request
of a fresh process. Each run starts a server process under `opentelemetry-instrument` (ADOT, as the image's
`CMD`; exporters `none`), polls `GET /ping`, sends the first `POST /invocations` the moment it answers 200,
and notes when the first memory call and the model request reach their local doubles. Two servers:

* agent: `agentcore_agent.__main__.main` (the image's entry point; auth on, memory, gateway tools);
* minimal: `BedrockAgentCoreApp` + a Strands `Agent` (`BedrockModel`) + an MCP client + the same memory
  calls (ListEvents and RetrieveMemoryRecords beside the gateway search, then CreateEvent), written as a
  sample would write it: clients and the model built at import, no token check, no deadlines.

Every dependency is a real local HTTP server speaking its service's wire shapes: the memory data plane
(`local.data_plane`, each memory call waits `--memory-ms`), the MCP gateway (`local.gateway`, checking the
user's JWT), the issuer's discovery document and keys (`local.oidc_issuer`) and Bedrock's ConverseStream
(`local.bedrock_runtime`, the scripted replies of `make local`). Goal (issue 25): the agent's median time
from process start to the model request ≤ 1.3 x the minimal agent's.

Then, in one process of each kind, `--tool-turns` follow-up turns of one session that call a gateway tool
(two model calls): CPU per turn (utime + stime from /proc), as AgentCore bills active CPU.

The same file is the server entry (`--serve agent|minimal --fd N`): the listening socket is bound here
(port 0) and handed to the child, so no port is ever chosen before it is bound. Timings are a measurement,
never a test; other processes on the machine move them (the load average is printed).
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
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reporting  # bench/reporting.py (this directory is on sys.path when a bench runs)

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
MEMORY_ID = "benchMemory-abcdefghij"
MODEL_ID = "bench-model"
CLIENT_ID = "client-a"
ACTOR = "bench-user-0001"
NAMESPACES = {"facts": "/facts/{actorId}"}
FIRST_PROMPT = "Hello, what can you do?"
TOOL_PROMPT = "Where is my order ORD-1001?"
SESSION = "bench-first-turn-{:04d}-0123456789-0123456789"
RATIO_GOAL = 1.3
KINDS = ("agent", "minimal")


# -- the servers (child processes) ------------------------------------------------------------------------


def serve(kind: str, fd: int) -> int:
    """Run one server on the inherited listening socket `fd` until terminated."""
    sys.path[:0] = [str(ROOT), str(ROOT / "agent_src")]
    sock = socket.socket(fileno=fd)
    if kind == "agent":
        from agentcore_agent.__main__ import main

        return main(sock=sock)
    import minimal_agent  # bench/minimal_agent.py
    from agentcore_agent.__main__ import serve_on_socket  # app.run on a given socket, nothing else

    serve_on_socket(minimal_agent.app, sock)
    return 0


# -- the doubles (this process) ---------------------------------------------------------------------------


@dataclass
class Doubles:
    """The local endpoints every server is configured with, and when each call reached them."""

    environment: dict[str, str]
    token: str
    memory_arrivals: list[float]
    model_arrivals: Any  # () -> list of time.monotonic() arrival times


def start_doubles(stack: ExitStack, memory_ms: float) -> Doubles:
    sys.path[:0] = [str(ROOT), str(ROOT / "agent_src")]
    from local.bedrock_runtime import ConverseStreamServer
    from local.data_plane import DataPlane
    from local.gateway import JwtAuthorizer, running_gateway
    from local.memory_store import MemoryStore
    from local.oidc_issuer import OidcIssuer

    arrivals: list[float] = []

    class TimedDataPlane(DataPlane):
        """The local data plane, noting when each memory call arrives (before its injected latency)."""

        def _held(self, operation: str | None) -> bool:
            if operation in self.affects:
                arrivals.append(time.monotonic())
            return super()._held(operation)

    state = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    store = MemoryStore(state / "memory.sqlite3", memory_id=MEMORY_ID, namespaces=NAMESPACES)
    stack.callback(store.close)
    plane = stack.enter_context(TimedDataPlane(memory=store))
    plane.delay_seconds = memory_ms / 1000
    issuer = stack.enter_context(OidcIssuer())
    gateway = stack.enter_context(
        running_gateway(authorizer=JwtAuthorizer(issuer.issuer, frozenset({CLIENT_ID})))
    )
    bedrock = ConverseStreamServer().start()
    stack.callback(bedrock.stop)
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": plane.endpoint_url,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.endpoint_url,
        "MODEL_ID": MODEL_ID,
        "OIDC_DISCOVERY_URL": issuer.discovery_url,
        "ALLOWED_CLIENTS": CLIENT_ID,
        "MEMORY_ID": MEMORY_ID,
        "MEMORY_NAMESPACES": json.dumps(NAMESPACES),
        "GATEWAY_URL": gateway,
        "LOG_LEVEL": "WARNING",
    }
    token = issuer.mint(sub=ACTOR, client_id=CLIENT_ID, role="customer", customer_id="CUST-001")
    return Doubles(environment, token, arrivals, bedrock.arrivals)


def child_environment(doubles: Doubles) -> dict[str, str]:
    """The container's environment: the settings, ADOT as the image configures it, nothing of ours else."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return {
        **base,
        **doubles.environment,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "agent_src"), str(ROOT / "bench")]),
        "OTEL_PYTHON_DISTRO": "aws_distro",
        "OTEL_PYTHON_CONFIGURATOR": "aws_configurator",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "agentcore_agent_bench",
    }


# -- one run ----------------------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    started: float  # time.monotonic() just before the spawn


def launch(kind: str, doubles: Doubles) -> Server:
    """Spawn a server under opentelemetry-instrument on a socket bound here."""
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    if instrument is None:
        raise SystemExit("opentelemetry-instrument not found next to this Python")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    command = [instrument, sys.executable, str(Path(__file__).resolve()), "--serve", kind]
    command += ["--fd", str(listener.fileno())]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        env=child_environment(doubles),
        pass_fds=[listener.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    port = listener.getsockname()[1]
    listener.close()  # the child holds its own copy
    return Server(process, port, started)


def wait_healthy(server: Server) -> float:
    """Poll `GET /ping` until it answers 200; its time.monotonic()."""
    while True:
        if server.process.poll() is not None:
            raise SystemExit(f"the server exited: {server.process.stderr.read().decode()[-2000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return time.monotonic()
        except OSError:
            time.sleep(0.002)
        finally:
            connection.close()
        if time.monotonic() - server.started > 60:
            server.process.kill()
            raise SystemExit("the server did not answer /ping within 60 s")


def invoke(port: int, token: str, prompt: str, session: str) -> bytes:
    """One turn, read to its end; a failed or degraded turn stops the bench (it would not be a fair run)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session,
    }
    try:
        connection.request("POST", "/invocations", json.dumps({"prompt": prompt}), headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200 or b'"type": "error"' in body or b"unavailable" in body:
        raise SystemExit(f"unexpected answer {response.status}: {body[:300]!r}")
    return body


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@dataclass
class FirstTurn:
    healthy: float  # process start -> /ping 200
    first_memory: float  # the first invocation sent -> the first memory call arrives
    model_after_send: float  # the first invocation sent -> the model request arrives
    model_after_start: float  # process start -> the model request arrives


def first_turn(kind: str, doubles: Doubles, index: int) -> FirstTurn:
    memory_seen, model_seen = len(doubles.memory_arrivals), len(doubles.model_arrivals())
    server = launch(kind, doubles)
    try:
        healthy = wait_healthy(server)
        invoke(server.port, doubles.token, FIRST_PROMPT, SESSION.format(index))
    finally:
        stop(server)
    memory = doubles.memory_arrivals[memory_seen]
    model = doubles.model_arrivals()[model_seen]
    return FirstTurn(healthy - server.started, memory - healthy, model - healthy, model - server.started)


def cpu_ms(pid: int) -> float:
    """User + system CPU milliseconds the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def tool_turn_cpu(kind: str, doubles: Doubles, turns: int) -> float:
    """CPU milliseconds per follow-up tool turn of one session (after two warm-up turns)."""
    server = launch(kind, doubles)
    session = SESSION.format(9999)
    try:
        wait_healthy(server)
        for _ in range(2):
            body = invoke(server.port, doubles.token, TOOL_PROMPT, session)
            if b"returned" not in body:  # the scripted model quotes the tool's result
                raise SystemExit(f"{kind}: the tool turn called no tool: {body[:300]!r}")
        before = cpu_ms(server.process.pid)
        for _ in range(turns):
            invoke(server.port, doubles.token, TOOL_PROMPT, session)
        return (cpu_ms(server.process.pid) - before) / turns
    finally:
        stop(server)


# -- the report -------------------------------------------------------------------------------------------


def report(
    runs: dict[str, list[FirstTurn]], cpu: dict[str, float], args: argparse.Namespace, load: float
) -> str:
    def median(kind: str, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in runs[kind])

    ratio = median("agent", "model_after_start") / median("minimal", "model_after_start")
    verdict = reporting.verdict(ratio <= RATIO_GOAL, f"first turn ≤ {RATIO_GOAL}x the minimal agent")
    lines = [
        "# A new session's first turn",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; under `opentelemetry-instrument` (ADOT, "
        f"exporters none); memory calls wait {args.memory_ms:g} ms at the wire; load average at start "
        f"{load:.2f}, at end {os.getloadavg()[0]:.2f}.",
        "",
        f"Reproduce: `python bench/bench_first_turn.py --runs {args.runs} --memory-ms {args.memory_ms:g} "
        f"--tool-turns {args.tool_turns}`.",
        "",
        f"## Process start → first model request, first invocation sent at the first healthy `/ping` "
        f"(median of {args.runs})",
        "",
        "| Server | Start → /ping 200 | Sent → first memory call | Sent → model request | "
        "Start → model request |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        cells = [
            f"{median(kind, name) * 1000:.0f} ms"
            for name in ("healthy", "first_memory", "model_after_send", "model_after_start")
        ]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Goal: agent ≤ {RATIO_GOAL} x minimal (start → model request) → **{verdict}** ({ratio:.2f}x).",
        "",
        f"## CPU per follow-up tool turn (one session, {args.tool_turns} turns, after 2 warm-up turns)",
        "",
        "| Server | CPU per turn | x minimal |",
        "|---|---|---|",
        *(f"| {kind} | {cpu[kind]:.1f} ms | {cpu[kind] / cpu['minimal']:.2f}x |" for kind in KINDS),
        "",
        "A tool turn: memory search and gateway search, two model calls (ConverseStream), one gateway tool "
        "call, two events written. Numbers vary with machine load; compare runs from the same machine only.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="first turns per server kind")
    parser.add_argument("--memory-ms", type=float, default=300)
    parser.add_argument("--tool-turns", type=int, default=20)
    reporting.add_arguments(parser, "first_turn")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.fd)
    if args.runs < 1 or args.tool_turns < 1 or args.memory_ms < 0:
        parser.error("--runs and --tool-turns must be ≥ 1 and --memory-ms ≥ 0")
    load = os.getloadavg()[0]
    with ExitStack() as stack:
        doubles = start_doubles(stack, args.memory_ms)
        runs: dict[str, list[FirstTurn]] = {kind: [] for kind in KINDS}
        for index in range(args.runs):  # interleaved, so drift in the machine's load hits both alike
            for kind in KINDS:
                runs[kind].append(first_turn(kind, doubles, index * len(KINDS) + KINDS.index(kind)))
        cpu = {kind: tool_turn_cpu(kind, doubles, args.tool_turns) for kind in KINDS}
    reporting.emit(report(runs, cpu, args, load), args)
    return reporting.status()


if __name__ == "__main__":
    sys.exit(main())
