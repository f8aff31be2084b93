"""A scratch copy of this checkout for benches that synthesize, review and clear caches, so `make bench`
leaves the checkout alone: its cdk.out, app.py's mtime and the review caches (kept in the git directory,
shared by worktrees, review/synth_cache.py) are untouched.

The copy is a clone with its own git directory (so its own caches), the working tree's files as they are
(uncommitted changes included, mtimes kept, so make rebuilds nothing it would not rebuild here), and this
checkout's .venv and node_modules linked (nothing is installed).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

LINKED = (".venv", "node_modules")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


@contextlib.contextmanager
def scratch_checkout(root: Path) -> Iterator[Path]:
    """A throw-away copy of `root` (see the module docstring), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as parent:
        copy = Path(parent) / root.name
        _git("clone", "--quiet", "--local", "--no-checkout", str(root), str(copy))
        _git("-C", str(copy), "reset", "--quiet")  # the index at HEAD; the files come from the working tree
        listed = _git("-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        for name in filter(None, listed.split("\0")):
            source = root / name
            if source.is_file() and name.split("/", 1)[0] not in LINKED:
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copy / name, follow_symlinks=False)
        for name in LINKED:
            if (root / name).exists():
                (copy / name).symlink_to((root / name).resolve())
        yield copy
