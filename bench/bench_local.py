"""Benchmark of `make local`: start to the ready line, and one local turn's latency with the scripted model.

    python bench/bench_local.py [--starts 3] [--turns 30]

(1) Start: `python -m local` (MODEL=scripted, dev stage already synthesized, i.e. warm) → its `ready` line,
    started by tests/local/launcher.py as the tests start it. Goal ≤ 5 s. Each start uses a fresh state
    directory and a free agent port.
(2) Turn: sequential POST /invocations with a logged-in user's token, a tool question ("Where is my order
    ORD-1001?": memory reads, tool search, one tool call on the local table, two model calls, memory writes)
    and a plain one, each in its own new session (the agent built, its history loaded), then the tool
    question as the follow-up turns of one session; the scripted model costs ~0, so this is the local
    stage's own latency. Goal ≤ 50 ms p50.
(3) CPU per turn of the stage process and of the agent process (utime + stime from /proc over the turns of
    each kind): on a machine with few cores, the sum bounds the latency more than any single wait does.
Timings are a measurement, never a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import reporting  # bench/reporting.py (this directory is on sys.path when a bench runs)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START_GOAL_S = 5.0
TURN_GOAL_MS = 50.0


def turn(url: str, access_token: str, prompt: str, session: str | None = None) -> float:
    """One turn's milliseconds, in `session` (a new session when None)."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {access_token}",
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session or f"bench-{uuid.uuid4()}",
    }
    request = urllib.request.Request(url, data=json.dumps({"prompt": prompt}).encode(), headers=headers)
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    elapsed = (time.perf_counter() - began) * 1000
    if b"error" in body and b'"type": "error"' in body:
        raise SystemExit(f"the turn failed: {body[:300]!r}")
    return elapsed


def cpu_ms(pid: int) -> float:
    """User + system CPU milliseconds the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def agent_pid(group: list[str]) -> int:
    """The agent process (`python -m local.agent_process`) among the stage's ("pid command" lines)."""
    for line in group:
        pid = int(line.split()[0])
        with contextlib.suppress(OSError):
            if b"local.agent_process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    raise SystemExit("the local stage has no agent process")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    from tests.local.launcher import start

    with tempfile.TemporaryDirectory() as tmp:
        starts = []
        for index in range(args.starts):
            running = start(Path(tmp) / f"start-{index}")
            starts.append(running.seconds_to_ready)
            running.interrupt()
        running = start(Path(tmp) / "turns")
        try:
            url, access_token = running.access_token("alice")
            processes = {"stage": running.process.pid, "agent": agent_pid(running.left_behind())}
            results, cpu = {}, {}
            for label, prompt in (("tool turn", "Where is my order ORD-1001?"), ("plain turn", "Hello")):
                turn(url, access_token, prompt)  # warm-up
                before = {name: cpu_ms(pid) for name, pid in processes.items()}
                results[label] = sorted(turn(url, access_token, prompt) for _ in range(args.turns))
                cpu[label] = {
                    name: (cpu_ms(pid) - before[name]) / args.turns for name, pid in processes.items()
                }
            # A conversation's later turns: the agent is built and its history loaded once; the history grows.
            session = f"bench-{uuid.uuid4()}"
            turn(url, access_token, "Where is my order ORD-1001?", session)
            results["tool turn, follow-up in one session"] = sorted(
                turn(url, access_token, "Where is my order ORD-1001?", session) for _ in range(args.turns)
            )
        finally:
            running.interrupt()
    load = os.getloadavg()[0]
    started = reporting.verdict(statistics.median(starts) <= START_GOAL_S, "local start")
    print(
        f"start to ready line: median {statistics.median(starts):.2f} s, max {max(starts):.2f} s "
        f"over {len(starts)} starts (goal <= {START_GOAL_S:g} s: "
        f"{started}); load average {load:.2f} "
        f"on {os.cpu_count()} cores"
    )
    for label, times in results.items():
        p95 = times[int(0.95 * (len(times) - 1))]
        used = ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu.get(label, {}).items())
        print(
            f"{label}: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms over {len(times)} "
            f"(goal p50 <= {TURN_GOAL_MS:g} ms: "
            f"{reporting.verdict(statistics.median(times) <= TURN_GOAL_MS, f'local {label}')})"
            + (f"; CPU per turn: {used}" if used else "")
        )
    return reporting.status()


if __name__ == "__main__":
    sys.exit(main())
