"""Benchmark `make review` against `make synth`, in the same run: the report's cost as a ratio to synth.

Four commands, each timed wall-clock, interleaved so machine load hits them alike; the median of N rounds
and the ratios of the medians:
- `make synth`: synthesize every stage (the baseline);
- `make review`: synth, then the report (cfn-lint in the background, IAM, acknowledgments); goal <= 1.3x;
- `make review BASE=HEAD~1`: the same plus the base synthesized in a temporary worktree in parallel and every
  stack diffed with @aws-cdk/cloudformation-diff; goal <= 2.3x;
- the same again with the base's assembly and every template's cfn-lint findings kept (review/synth_cache.py,
  review/lint.py): a review re-run.
Before each review app.py is touched, so the head is synthesized like after an edit (the review skips a
current cdk.out), and both caches are cleared except for the cached line: every template is linted.
All of it happens in a scratch copy of the checkout (bench/scratch_checkout.py): this checkout's cdk.out,
app.py and review caches are left as they were. `--record` writes docs/benchmarks/review.md.

    python bench/bench_review.py [--rounds 3] [--base HEAD~1] [--record | --output FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import reporting  # bench/reporting.py (this directory is on sys.path when a bench runs)
from scratch_checkout import scratch_checkout

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from review import lint, synth_cache  # noqa: E402

GOALS = {"review": 1.3, "review with base": 2.3}


def timed(root: Path, command: list[str], keep_cache: bool = False) -> float:
    """Seconds of one command in the scratch checkout `root`."""
    if command[-1] != "synth":
        # An edit after the last synth: the clock's full precision, since a file's "now" is coarse (a few ms)
        # and an app.py as old as cdk.out's stamp is not newer for make.
        now = time.time_ns()
        os.utime(root / "app.py", ns=(now, now))
    if not keep_cache:
        synth_cache.clear(root)
        lint.clear(root)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", default="HEAD~1")
    reporting.add_arguments(parser, "review")
    args = parser.parse_args()
    make = ["make", "--no-print-directory"]
    commands = {
        "synth": [*make, "synth"],
        "review": [*make, "review"],
        "review with base": [*make, "review", f"BASE={args.base}"],
        "review with cached base": [*make, "review", f"BASE={args.base}"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    with scratch_checkout(REPO) as root:
        timed(root, commands["synth"])  # warm-up: node and Python caches
        for _ in range(args.rounds):
            for name, command in commands.items():
                samples[name].append(timed(root, command, keep_cache=name == "review with cached base"))
    median = {name: statistics.median(values) for name, values in samples.items()}
    lines = [
        "# make review benchmark",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"median of {args.rounds} interleaved rounds, wall clock; base `{args.base}`.",
        "",
        "| Command | Median s | Min-max s | Ratio to synth | Goal |",
        "|---|---|---|---|---|",
    ]
    for name, values in samples.items():
        ratio = median[name] / median["synth"]
        goal = (
            f"<= {GOALS[name]}x: {reporting.verdict(ratio <= GOALS[name], f'make {name}')}"
            if name in GOALS
            else ""
        )
        lines.append(
            f"| make {name} | {median[name]:.1f} | {min(values):.1f}-{max(values):.1f} | "
            f"{ratio:.2f}x | {goal} |"
        )
    reporting.emit("\n".join(lines), args)
    return reporting.status()


if __name__ == "__main__":
    sys.exit(main())
