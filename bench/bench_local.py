"""Benchmark of `make local`: start to the ready line, and one local turn's latency with the scripted model.

    python bench/bench_local.py [--starts 3] [--turns 30]

(1) Start: `python -m local` (MODEL=scripted, dev stage already synthesized, i.e. warm) → its `ready` line.
    Goal ≤ 5 s. Each start uses a fresh state directory and a free agent port.
(2) Turn: sequential POST /invocations with a logged-in user's token, a tool question ("Where is my order
    ORD-1001?": memory reads, tool search, one tool call on the local table, two model calls, memory writes)
    and a plain one, each in its own new session; the scripted model costs ~0, so this is the local stage's
    own latency. Goal ≤ 50 ms p50.
Timings are a measurement, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START_GOAL_S = 5.0
TURN_GOAL_MS = 50.0


def start(state: Path, port: int) -> tuple[subprocess.Popen[str], float]:
    env = {**os.environ, "MODEL": "scripted", "LOCAL_STATE_DIR": str(state), "LOCAL_AGENT_PORT": str(port)}
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("ready"):
            return process, time.perf_counter() - began
    raise SystemExit(f"python -m local ended without a ready line (status {process.wait()})")


def stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)


def token(state: Path) -> tuple[str, str]:
    """Log in as alice with the same call invoke.py makes; returns (invocation URL, access token)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    stage = json.loads((state / "stage.json").read_text())
    password = json.loads((state / "users.json").read_text())["alice"]
    cognito = boto3.client(
        "cognito-idp",
        region_name=stage["region"],
        endpoint_url=stage["cognito_endpoint"],
        config=Config(signature_version=UNSIGNED),
    )
    result = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=stage["user_client_id"],
        AuthParameters={"USERNAME": "alice", "PASSWORD": password},
    )
    return stage["invocation_url"], result["AuthenticationResult"]["AccessToken"]


def turn(url: str, access_token: str, prompt: str) -> float:
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {access_token}",
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": f"bench-{uuid.uuid4()}",
    }
    request = urllib.request.Request(url, data=json.dumps({"prompt": prompt}).encode(), headers=headers)
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    elapsed = (time.perf_counter() - began) * 1000
    if b"error" in body and b'"type": "error"' in body:
        raise SystemExit(f"the turn failed: {body[:300]!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    from local.stage import free_port

    with tempfile.TemporaryDirectory() as tmp:
        starts = []
        for index in range(args.starts):
            process, seconds = start(Path(tmp) / f"start-{index}", free_port())
            starts.append(seconds)
            stop(process)
        state = Path(tmp) / "turns"
        process, _ = start(state, free_port())
        try:
            url, access_token = token(state)
            results = {}
            for label, prompt in (("tool turn", "Where is my order ORD-1001?"), ("plain turn", "Hello")):
                turn(url, access_token, prompt)  # warm-up
                results[label] = sorted(turn(url, access_token, prompt) for _ in range(args.turns))
        finally:
            stop(process)
    print(
        f"start to ready line: median {statistics.median(starts):.2f} s, max {max(starts):.2f} s "
        f"over {len(starts)} starts (goal <= {START_GOAL_S:g} s)"
    )
    for label, times in results.items():
        p95 = times[int(0.95 * (len(times) - 1))]
        print(
            f"{label}: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms over {len(times)} "
            f"(goal p50 <= {TURN_GOAL_MS:g} ms)"
        )


if __name__ == "__main__":
    main()
