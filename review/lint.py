"""cfn-lint over every template: CLI processes (one per region and core; a process reuses its schemas across
templates, several times faster than the per-template API), started early to overlap the rest of the report.

Findings are kept by content: a template linted before with the same bytes, region, cfn-lint version and
ignored rules is not linted again (a change usually touches a stack or two of sixteen). The store is in the
git directory of the working directory (shared by worktrees, never committed); outside git nothing is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from review import synth_cache
from review.assembly import Stack, Stage

# Same as the project's cfn-lint gate: W3005 (redundant DependsOn) is how CDK L2s make ordering explicit.
IGNORED = ("W3005",)
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
KEPT = 400  # templates' findings kept (16 per synthesized app)


@dataclass(frozen=True)
class Finding:
    stack: str
    level: str
    rule: str
    message: str
    path: str


def _chunks(items: list, count: int) -> list[list]:
    return [chunk for chunk in (items[i::count] for i in range(count)) if chunk]


def _store(root: Path | None = None) -> Path | None:
    directory = synth_cache.git_directory(root or Path.cwd())
    return directory / "agentcore-lint-cache" if directory else None


def clear(root: Path) -> None:
    """Forget every kept finding (benchmarks measure the unkept path this way)."""
    store = _store(root)
    if store is not None:
        shutil.rmtree(store, ignore_errors=True)


def _key(stack: Stack) -> str:
    digest = hashlib.sha256(f"{metadata.version('cfn-lint')}\0{IGNORED}\0{stack.region}\0".encode())
    digest.update(stack.template_path.read_bytes())
    return digest.hexdigest()[:32]


class LintRun:
    """A started cfn-lint run over every stack not linted before; `findings()` waits for it."""

    def __init__(self, stages: list[Stage]) -> None:
        self._store = _store()
        self._known: list[Finding] = []
        self._keys: dict[str, str] = {}  # stack id -> key, for the stacks linted now
        by_region: dict[str, list[Stack]] = defaultdict(list)
        for stage in stages:
            for stack in stage.stacks:
                key = _key(stack)
                kept = self._store / f"{key}.json" if self._store else None
                if kept is not None and kept.exists():
                    entries = json.loads(kept.read_text())
                    self._known += [Finding(stack=stack.id, **entry) for entry in entries]
                    os.utime(kept)
                else:
                    self._keys[stack.id] = key
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
        self._keep(found)
        return self._known + found

    def _keep(self, found: list[Finding]) -> None:
        """Store each newly linted template's findings (an empty list too: a clean template is a result)."""
        if self._store is None or not self._keys:
            return
        self._store.mkdir(parents=True, exist_ok=True)
        by_stack: dict[str, list[dict]] = {stack: [] for stack in self._keys}
        for finding in found:
            if finding.stack in by_stack:
                entry = asdict(finding)
                del entry["stack"]
                by_stack[finding.stack].append(entry)
        for stack, entries in by_stack.items():
            with tempfile.NamedTemporaryFile("w", dir=self._store, suffix=".tmp", delete=False) as file:
                json.dump(entries, file)
            os.replace(file.name, self._store / f"{self._keys[stack]}.json")
        kept = sorted(self._store.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
        for old in kept[KEPT:]:
            with contextlib.suppress(OSError):
                old.unlink()
