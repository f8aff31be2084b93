"""Benchmark of synthesis: the project's app against a minimal one-stack app holding one L2 `Runtime`.

    python bench/bench_synth.py [--runs 5] [--record | --output FILE]

Both apps are synthesized warm (one discarded run each first), interleaved run by run, the same two ways:
* `make synth`'s own command (`make -s synth-command`: the CDK CLI with '**', so every stack of every stage),
  with `--app` pointed at the app and `--output` at a scratch directory;
* `python <app>` alone (what the CLI runs), with the context the CLI would pass (`CDK_CONTEXT_JSON`).
The project's app is measured with every stage and with `STAGE=dev` (one stage). The minimal app is
bench/minimal_app.py under the same `cdk.json`, so the same CDK feature flags and built-in validation.
Goal (issue 10): project (every stage) ≤ 1.5 x minimal, on wall-clock medians. CPU time (user + sys of the
child processes) is printed beside it: it varies far less with the load of a shared machine.
Timings are a measurement, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import reporting  # bench/reporting.py (this directory is on sys.path when a bench runs)

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = Path(__file__).resolve().parent / "minimal_app.py"
GOAL = 1.5
QUIET = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
}


def synth_command(stage: str | None) -> list[str]:
    variables = [f"STAGE={stage}"] if stage else []
    printed = subprocess.run(
        ["make", "-s", "synth-command", *variables], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return shlex.split(printed)


def context_json(stage: str | None) -> str:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    if stage:
        context["agentcore:stage"] = stage
    return json.dumps(context)


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) of one run; a failed run stops the bench."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"failed: {shlex.join(command)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def cases(scratch: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command, environment) for every measured combination."""
    python = sys.executable
    base = {**os.environ, **QUIET}
    found: dict[str, tuple[list[str], dict[str, str]]] = {}
    for app_name, app, stage in (
        ("project", ROOT / "app.py", None),
        ("project STAGE=dev", ROOT / "app.py", "dev"),
        ("minimal", MINIMAL, None),
    ):
        out = str(scratch / app_name.replace(" ", "-"))
        found[f"cdk synth: {app_name}"] = (
            [*synth_command(stage), "--app", f"{python} {app}", "--output", out],
            base,
        )
        found[f"python app: {app_name}"] = (
            [python, str(app)],
            {**base, "CDK_OUTDIR": out + "-py", "CDK_CONTEXT_JSON": context_json(stage)},
        )
    return found


def measure(runs: int) -> dict[str, list[tuple[float, float]]]:
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as scratch:
        todo = cases(Path(scratch))
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in todo}
        for index in range(runs + 1):  # run 0 warms caches and is discarded
            for name, (command, env) in todo.items():
                sample = timed(command, env)
                if index:
                    samples[name].append(sample)
                print(f"  run {index} {name}: {sample[0]:.2f} s wall, {sample[1]:.2f} s CPU", flush=True)
    return samples


def report(samples: dict[str, list[tuple[float, float]]], runs: int, load_before: float) -> str:
    wall = {name: statistics.median(s[0] for s in values) for name, values in samples.items()}
    cpu = {name: statistics.median(s[1] for s in values) for name, values in samples.items()}
    lines = [
        "# Synthesis: the project's app against a minimal one-Runtime app",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {load_before:.1f} before the run; medians of "
        f"{runs} warm runs each, interleaved, after one discarded run. Reproduce: `make bench` "
        "(or `python bench/bench_synth.py --runs N`).",
        "",
        "| how | app | wall (median) | CPU (median) | wall vs minimal | CPU vs minimal |",
        "|---|---|---|---|---|---|",
    ]
    for how in ("cdk synth", "python app"):
        reference = f"{how}: minimal"
        for app_name in ("project", "project STAGE=dev", "minimal"):
            name = f"{how}: {app_name}"
            lines.append(
                f"| {how} | {app_name} | {wall[name]:.2f} s | {cpu[name]:.2f} s "
                f"| {wall[name] / wall[reference]:.2f}x | {cpu[name] / cpu[reference]:.2f}x |"
            )
    ratio = wall["cdk synth: project"] / wall["cdk synth: minimal"]
    verdict = reporting.verdict(ratio <= GOAL, "make synth vs the minimal app")
    lines += [
        "",
        f"Goal: `make synth` of every stage ≤ {GOAL}x the minimal app → **{verdict}** ({ratio:.2f}x wall, "
        f"{cpu['cdk synth: project'] / cpu['cdk synth: minimal']:.2f}x CPU).",
        "",
        "Numbers vary with machine load; compare runs from the same machine only.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    reporting.add_arguments(parser, "synth")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be ≥ 1")
    load_before = os.getloadavg()[0]
    reporting.emit(report(measure(args.runs), args.runs, load_before), args)
    return reporting.status()


if __name__ == "__main__":
    sys.exit(main())
