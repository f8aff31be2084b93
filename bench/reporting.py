"""Where a benchmark's report goes: always to stdout; into docs/benchmarks/ only when asked (`--record`, which
`make bench-record` passes), so `make bench` never rewrites tracked files. Every goal gets a verdict
(`verdict`); a bench exits with `status()`, GOAL_MISSED when one was missed, so `make bench` fails on it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
GOAL_MISSED = 3  # a bench's exit status when it ran and a goal was missed (1 is a bench that failed)
_missed: list[str] = []


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """`--record` (write docs/benchmarks/<name>.md) and `--output FILE` (write FILE instead)."""
    parser.add_argument("--record", action="store_true", help=f"also write docs/benchmarks/{name}.md")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.set_defaults(report_name=name)


def emit(text: str, args: argparse.Namespace) -> None:
    """Print the report; write it where `--record` / `--output` say."""
    print(text)
    target = args.output or (DOCS / f"{args.report_name}.md" if args.record else None)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        print(f"wrote {target}")


def verdict(met: bool, goal: str) -> str:
    """The verdict printed beside a figure; a missed `goal` (its one-line name) is kept for `status()`."""
    if not met:
        _missed.append(goal)
    return "meets goal" if met else "MISSES goal"


def status() -> int:
    """The bench's exit status: 0, or GOAL_MISSED after one line on stderr naming each missed goal."""
    if not _missed:
        return 0
    print(f"goals missed: {'; '.join(_missed)}", file=sys.stderr)
    return GOAL_MISSED
