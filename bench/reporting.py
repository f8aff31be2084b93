"""Where a benchmark's report goes: always to stdout; into docs/benchmarks/ only when asked (`--record`, which
`make bench-record` passes), so `make bench` never rewrites tracked files."""

from __future__ import annotations

import argparse
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


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
