"""Benchmark the token budget's added latency per turn, against the local DynamoDB (as in `make local`).

A turn waits for `admit` before its first model call: one conditional PutItem against the item as this
process last wrote it (a consistent GetItem first when it does not know it, or when another process changed
it); `charge` runs after the answer has streamed, so only `admit` is on the turn's path. Both are timed at the
client, over real HTTP to the local moto server, for turns of one user with room in the budget. The goal
(issue 23) is admit <= 5 ms p50 locally. Timings are a measurement, never a test.

    python bench/bench_token_budget.py [--turns 300] [--record | --output FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import reporting  # bench/reporting.py (this directory is on sys.path when a bench runs)

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "agent_src")]

from agentcore_agent.token_budget import Admission, TokenBudget  # noqa: E402

from local.dev_stage import Table  # noqa: E402
from local.dynamodb import LocalDynamoDB  # noqa: E402

GOAL_MS = 5.0
TABLE = "bench-token-budget"
DEFINITION = {
    "TableName": TABLE,
    "KeySchema": [{"AttributeName": "usage_key", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "usage_key", "AttributeType": "S"}],
}


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    reporting.add_arguments(parser, "token_budget")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        local = LocalDynamoDB(Path(state), [Table(TABLE, "TOKEN_BUDGET_TABLE", DEFINITION)], "us-east-1")
        local.start()
        try:
            budget = TokenBudget(local.client(), TABLE, {"user": 10**9, "operator": 10**9, "machine": 10**9})
            admits, charges = [], []
            for _ in range(args.turns + 10):  # the first 10 warm the client and the server up
                began = time.perf_counter()
                admission = budget.admit("bench-user", "user")
                admitted = time.perf_counter()
                assert isinstance(admission, Admission), admission
                budget.charge(admission, 18)
                charges.append((time.perf_counter() - admitted) * 1000)
                admits.append((admitted - began) * 1000)
        finally:
            local.stop()
    admits, charges = admits[10:], charges[10:]
    p50 = statistics.median(admits)
    verdict = reporting.verdict(p50 <= GOAL_MS, "token budget admit p50")
    lines = [
        "# Token budget: added latency per turn (local DynamoDB)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {args.turns} turns of one user.",
        "",
        "| call | on the turn's path | p50 | p90 |",
        "|---|---|---|---|",
        f"| admit | yes, before the first model call | {p50:.2f} ms | {percentile(admits, 0.9):.2f} ms |",
        f"| charge | no, after the answer | {statistics.median(charges):.2f} ms | "
        f"{percentile(charges, 0.9):.2f} ms |",
        "",
        f"Goal: admit <= {GOAL_MS:g} ms p50: **{verdict}** ({p50:.2f} ms).",
    ]
    reporting.emit("\n".join(lines), args)
    return reporting.status()


if __name__ == "__main__":
    sys.exit(main())
