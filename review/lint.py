"""cfn-lint over every template: CLI processes (one per region and core; a process reuses its schemas across
templates, several times faster than the per-template API), started early to overlap the rest of the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from review.assembly import Stage

# Same as the project's cfn-lint gate: W3005 (redundant DependsOn) is how CDK L2s make ordering explicit.
IGNORED = ("W3005",)
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


@dataclass(frozen=True)
class Finding:
    stack: str
    level: str
    rule: str
    message: str
    path: str


def _chunks(items: list, count: int) -> list[list]:
    return [chunk for chunk in (items[i::count] for i in range(count)) if chunk]


class LintRun:
    """A started cfn-lint run over every stack; `findings()` waits for it."""

    def __init__(self, stages: list[Stage]) -> None:
        by_region: dict[str, list] = defaultdict(list)
        for stage in stages:
            for stack in stage.stacks:
                by_region[stack.region].append(stack)
        self._stack_of = {
            str(stack.template_path.resolve()): stack.id for stacks in by_region.values() for stack in stacks
        }
        self._processes = [
            subprocess.Popen(
                [str(CFN_LINT), "--format", "json", "--ignore-checks", *IGNORED, "--regions", region, "--"]
                + [str(stack.template_path) for stack in chunk],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for region, stacks in by_region.items()
            for chunk in _chunks(stacks, os.cpu_count() or 1)
        ]

    def findings(self) -> list[Finding]:
        found = []
        for process in self._processes:
            out, err = process.communicate()
            # The exit code is a bit set of finding levels (2 error, 4 warning, 8 info); 1 is a crash.
            if process.returncode & 1 or not out.strip():
                detail = (
                    err.strip().splitlines()[-1] if err.strip() else f"exit {process.returncode}, no output"
                )
                raise RuntimeError(f"cfn-lint failed: {detail}")
            for match in json.loads(out):
                found.append(
                    Finding(
                        stack=self._stack_of.get(str(Path(match["Filename"]).resolve()), match["Filename"]),
                        level=match["Level"],
                        rule=match["Rule"]["Id"],
                        message=match["Message"],
                        path="/".join(map(str, match["Location"].get("Path") or [])),
                    )
                )
        return found
