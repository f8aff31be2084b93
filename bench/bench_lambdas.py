"""Benchmark the Lambda tool functions: cold import time and deployment package size.

Cold import = a fresh `python -c` process importing `handler.py` (with the shared layer on sys.path and the
env the function gets in AWS), timed inside the process so interpreter start-up is excluded; the median of
N runs. Also timed: import plus creating the DynamoDB client (what the first invocation pays) and the
`import boto3` floor alone. Sizes are the bytes of `lambdas/<name>/` and of the layer `lambdas/shared/`
(excluding __pycache__). Writes docs/benchmarks/lambdas.md.

    python bench/bench_lambdas.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAMBDAS = REPO / "lambdas"
LAYER = LAMBDAS / "shared"
OUTPUT = REPO / "docs" / "benchmarks" / "lambdas.md"
GOAL_MS = 150.0

IMPORT_HANDLER = """
import importlib.util, time
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
{extra}
print((time.perf_counter() - t) * 1000)
"""
IMPORT_BOTO3 = "import time\nt = time.perf_counter()\nimport boto3\nprint((time.perf_counter() - t) * 1000)"


def function_env(name: str) -> dict[str, str]:
    """The environment the CDK stack gives the function (tracing off: no X-Ray daemon here)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        {
            "PYTHONPATH": str(LAYER / "python"),
            "PYTHONDONTWRITEBYTECODE": "0",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "POWERTOOLS_SERVICE_NAME": name,
            "POWERTOOLS_METRICS_NAMESPACE": "AgentCoreTools",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "ORDERS_TABLE_NAME": "orders",
            "INVENTORY_TABLE_NAME": "inventory",
        }
    )
    return env


def median_ms(code: str, env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """(median, min, max) milliseconds over `runs` fresh interpreters (one warm-up run discarded)."""
    samples = []
    for index in range(runs + 1):
        command = [sys.executable, "-c", code]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        if index:
            samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples), min(samples), max(samples)


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    functions = sorted(path.parent for path in LAMBDAS.glob("*/tools.json"))
    rows = []
    for function in functions:
        env = function_env(function.name)
        handler = str(function / "handler.py")
        cold = median_ms(IMPORT_HANDLER.format(path=handler, extra=""), env, runs)
        extra = "module.dynamodb_client()"
        first_call = median_ms(IMPORT_HANDLER.format(path=handler, extra=extra), env, runs)
        rows.append((function.name, cold, first_call, tree_bytes(function)))
        print(f"{function.name}: import {cold[0]:.1f} ms, +client {first_call[0]:.1f} ms", flush=True)
    boto3_floor = median_ms(IMPORT_BOTO3, function_env("boto3"), runs)
    layer_bytes = tree_bytes(LAYER)

    lines = [
        "# Lambda tool functions: cold import time and package size",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; median (min-max) of {runs} fresh interpreters, each timed "
        "inside the process (interpreter start-up excluded), after one discarded warm-up run. "
        "Tracing disabled (no X-Ray daemon); Powertools 3.37 and boto3 from the virtualenv "
        "(in AWS: the Powertools layer and the runtime).",
        "",
        "Reproduce: `python bench/bench_lambdas.py` (option `--runs N`).",
        "",
        f"| function | cold import of handler.py (goal ≤ {GOAL_MS:.0f} ms) | import + DynamoDB client | "
        "package bytes (lambdas/<name>/) |",
        "|---|---|---|---|",
    ]
    for name, cold, first_call, size in rows:
        verdict = "meets goal" if cold[0] <= GOAL_MS else "over goal"
        lines.append(
            f"| {name} | {cold[0]:.1f} ms ({cold[1]:.0f}-{cold[2]:.0f}), {verdict} | "
            f"{first_call[0]:.1f} ms ({first_call[1]:.0f}-{first_call[2]:.0f}) | {size:,} |"
        )
    lines += [
        "",
        f"Shared layer `lambdas/shared/` (`python/gateway_tool`): {layer_bytes:,} bytes.",
        "",
        f"Floor for comparison: `import boto3` alone takes {boto3_floor[0]:.1f} ms "
        f"({boto3_floor[1]:.0f}-{boto3_floor[2]:.0f}) on this machine; the handlers import boto3 at module "
        "level (the init phase). The rest is mostly Powertools Tracer importing `aws_xray_sdk.core` (about "
        "as much again, overlapping boto3's botocore), paid even with tracing off. The DynamoDB client is "
        "created lazily on first use so tests can create it under moto; the last column is the cost the "
        "first invocation adds.",
        "",
    ]
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
