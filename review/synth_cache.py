"""Synthesized assemblies kept by what shapes them, so a commit is synthesized for review once.

`make review BASE=main` run again while a branch moves on reuses the base's assembly, and a head that was
reviewed (and committed) is not synthesized again when it becomes the next review's base. The key is every
synthesis input as git stores it at the commit (tree and blob ids of the paths below) plus the tools this
checkout synthesizes with, so a changed input is always a miss. Only committed states are kept: a head with
uncommitted changes to an input is never stored. The cache lives in the git directory (shared by worktrees,
never committed) and keeps the newest few entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# What `make synth` reads (the Makefile's SYNTH_SOURCES) and the locked toolchain.
INPUTS = (
    "app.py",
    "cdk.json",
    "cdk.context.json",
    "requirements.txt",
    "package.json",
    "package-lock.json",
    "stacks",
    "agent_src",
    "lambdas",
    "policies",
)
# Written by the CDK or by the review itself, not read by it: asset staging copies are large and unused.
SKIPPED = ("review", "asset.*", ".synthesized-*")
KEPT = 4
ENVIRONMENT = ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION")


def _git(root: Path, *args: str) -> str | None:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def git_directory(root: Path) -> Path | None:
    """The git directory shared by every worktree of the repository at `root` (None outside git)."""
    common = _git(root, "rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(common.strip()) if common else None


def _directory(root: Path) -> Path | None:
    common = git_directory(root)
    return common / "agentcore-review-cache" if common else None


def key(root: Path, commit: str) -> str | None:
    """The key of `commit`'s assembly as this checkout would synthesize it (None outside git)."""
    listing = _git(root, "ls-tree", commit, "--", *INPUTS)
    if listing is None:
        return None
    digest = hashlib.sha256(listing.encode())
    digest.update(sys.executable.encode())
    for name in ENVIRONMENT:
        digest.update(f"\0{name}={os.environ.get(name, '')}".encode())
    for tool in ("package-lock.json", "requirements.txt"):  # this checkout's installed tools
        path = root / tool
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()[:32]


def head_key(root: Path) -> str | None:
    """The key of HEAD when no synthesis input has an uncommitted change (tracked or not), else None."""
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *INPUTS)
    return key(root, "HEAD") if status == "" else None


def _touch(entry: Path) -> None:
    """Mark as most recently used, with the clock's full precision (a directory's own times are coarse)."""
    now = time.time_ns()
    os.utime(entry, ns=(now, now))


def lookup(root: Path, cache_key: str | None) -> Path | None:
    directory = _directory(root)
    if cache_key is None or directory is None:
        return None
    entry = directory / cache_key
    if not (entry / "manifest.json").exists():
        return None
    _touch(entry)
    return entry


def clear(root: Path) -> None:
    """Forget every kept assembly (benchmarks measure the uncached path this way)."""
    directory = _directory(root)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def store(root: Path, cache_key: str | None, cdk_out: Path) -> None:
    """Keep a copy of `cdk_out` under `cache_key` (atomically: a reader never sees half an entry)."""
    directory = _directory(root)
    if cache_key is None or directory is None or not (cdk_out / "manifest.json").exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / cache_key).exists():
        return
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
    shutil.copytree(cdk_out, staging / "cdk.out", ignore=shutil.ignore_patterns(*SKIPPED))
    with contextlib.suppress(OSError):  # another review stored it first
        (staging / "cdk.out").rename(directory / cache_key)
        _touch(directory / cache_key)
    shutil.rmtree(staging, ignore_errors=True)
    entries = sorted(
        (entry for entry in directory.iterdir() if not entry.name.startswith(".")),
        key=lambda entry: entry.stat().st_mtime,
        reverse=True,
    )
    for old in entries[KEPT:]:
        shutil.rmtree(old, ignore_errors=True)
