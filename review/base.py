"""Synthesizes a git ref in a temporary worktree, reusing this checkout's .venv and node_modules (no install),
unless the review cache already holds its assembly (review/synth_cache.py).

The base is synthesized with the CDK CLI directly, never with its own Makefile: an old Makefile could run
`npm ci`, which would empty a node_modules shared between worktrees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from review import synth_cache

SHARED = (".venv", "node_modules")
QUIET_CDK = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
}


class BaseError(RuntimeError):
    """The base ref cannot be checked out or synthesized; the message is one line for the operator."""


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise BaseError(
            f"git {' '.join(args)}: {result.stderr.strip().splitlines()[-1] if result.stderr else '?'}"
        )
    return result.stdout.strip()


class BaseSynth:
    """`start()` checks the ref out and starts `cdk synth` in the background (unless cached); `wait()` returns
    its cdk.out."""

    def __init__(self, root: Path, ref: str) -> None:
        self.root = root.resolve()
        self.ref = ref
        self.commit = _git(self.root, "rev-parse", "--verify", f"{ref}^{{commit}}")
        self.key = synth_cache.key(self.root, self.commit)
        self.cached = synth_cache.lookup(self.root, self.key)
        self.workdir = Path(tempfile.mkdtemp(prefix="review-base-"))
        self.source = self.workdir / "src"
        self.cdk_out = self.workdir / "cdk.out"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> BaseSynth:
        if self.cached is not None:
            return self
        _git(self.root, "worktree", "add", "--detach", "--quiet", str(self.source), self.commit)
        for name in SHARED:
            target = (self.root / name).resolve()
            if target.exists() and not (self.source / name).exists():
                (self.source / name).symlink_to(target)
        command = ["npx", "--no-install", "cdk", "--no-notices", "synth", "--quiet", "-o", str(self.cdk_out)]
        self._process = subprocess.Popen(
            command,
            cwd=self.source,
            env={**os.environ, **QUIET_CDK},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def cdk_json(self) -> Path:
        """The base's cdk.json (from git: there is no worktree when the assembly was cached)."""
        path = self.workdir / "cdk.json"
        try:
            path.write_text(_git(self.root, "show", f"{self.commit}:cdk.json"))
        except BaseError:
            path.unlink(missing_ok=True)
        return path

    def wait(self) -> Path:
        if self.cached is not None:
            return self.cached
        assert self._process is not None, "start() first"
        _, err = self._process.communicate()
        if self._process.returncode != 0 or not (self.cdk_out / "manifest.json").exists():
            lines = [line for line in err.splitlines() if line.strip() and "!!" not in line]
            raise BaseError(f"synth of {self.ref} failed: {lines[-1] if lines else 'no output'}")
        synth_cache.store(self.root, self.key, self.cdk_out)
        return self.cdk_out

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self.source.exists():
            subprocess.run(
                ["git", "-C", str(self.root), "worktree", "remove", "--force", str(self.source)],
                capture_output=True,
            )
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> BaseSynth:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
