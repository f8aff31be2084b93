"""Benchmark of the test suite: `make test`'s pytest run, its wall time against its CPU time.

    python bench/bench_suite.py [--record | --output FILE]

Runs `python -m pytest -q -n auto` (what `make test` runs after ruff) once, in this checkout, and prints its
wall seconds, the CPU seconds (user + sys) of the whole process tree and the cores it may use. Goal (issue
25 §6): wall ≤ 1.25 x CPU / cores, i.e. the workers keep every core busy, and no test (an end-to-end one
waiting on a process, a sleep) stretches the run beyond its CPU work. A failing suite fails the bench.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import reporting  # bench/reporting.py (this directory is on sys.path when a bench runs)

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.25
COMMAND = [sys.executable, "-m", "pytest", "-q", "-n", "auto"]


def wall_bound(cpu: float, cores: int) -> float:
    """The goal's longest acceptable wall time: every core busy, plus 25 %."""
    return GOAL * cpu / cores


def run_suite() -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) of one pytest run; a failing suite stops the bench."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"the suite failed ({result.returncode}): {result.stdout.strip()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    reporting.add_arguments(parser, "suite")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()[0]
    wall, cpu = run_suite()
    bound = wall_bound(cpu, cores)
    verdict = reporting.verdict(wall <= bound, "test suite wall vs CPU")
    lines = [
        "# Test suite: wall time against CPU time",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cores} cores, load average {load_before:.1f} "
        f"before the run; `{' '.join(['python', *COMMAND[1:]])}`.",
        "",
        f"CPU {cpu:.1f} s, wall {wall:.1f} s; goal wall ≤ {GOAL} x CPU / cores = {bound:.1f} s "
        f"→ **{verdict}** ({wall / (cpu / cores):.2f} x CPU / cores).",
        "",
        "Other load on the machine lengthens the wall time only: compare runs on an idle machine.",
    ]
    reporting.emit("\n".join(lines), args)
    return reporting.status()


if __name__ == "__main__":
    sys.exit(main())
