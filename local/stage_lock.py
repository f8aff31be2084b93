"""Whether a local stage is alive in a state directory, told by the kernel, not by a file left behind.

A running stage holds a shared `flock` on `<state>/stage.lock` and hands the same open file to its agent
process, so the lock lives as long as any process of the stage does and goes with the last of them, however
they end (Ctrl-C, a closed terminal, SIGKILL, a crash). A `stage.json` without that lock is stale: readers
(`scripts/invoke.py --local`, `make local-reset`) test it with a non-blocking exclusive lock, taken and
released at once; a stage starting at that moment waits for that instant (its shared lock blocks), never
fails. Only the standard library: scripts/invoke.py imports this module.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "stage.lock"


def hold(state_dir: Path) -> int:
    """Take the running stage's shared lock; the open descriptor (inheritable: pass it to the agent)."""
    descriptor = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_SH)
    return descriptor


def is_running(state_dir: Path) -> bool:
    """True while a process of a stage started in `state_dir` is alive."""
    try:
        descriptor = os.open(state_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # also releases the lock when it was taken
    return False
