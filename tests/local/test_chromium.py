"""Stopping a local Chromium ends its whole process tree and removes its profile, even as a helper writes."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from local.chromium import Chromium, chromium_path

# Chromium's shape at exit, made deterministic: the browser process reports its DevTools endpoint, and a
# helper it started (a renderer, a utility process) outlives it for a moment, writing into the profile.
# The helper ignores SIGTERM and gives up by itself after ~30 s, so a failing test leaves no writer for long.
LINGERING_HELPER = """#!/bin/sh
for arg in "$@"; do case "$arg" in --user-data-dir=*) profile="${arg#--user-data-dir=}";; esac; done
(trap '' TERM; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo x > "$profile/helper-$i"; sleep 0.01; done) &
echo "$!" > "$profile/../helper.pid"
echo "DevTools listening on ws://127.0.0.1:9/devtools/browser/stand-in" >&2
trap 'exit 0' TERM
while :; do sleep 0.05; done
"""


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None when it is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _live(pids: list[int]) -> list[int]:
    """Those running, as opposed to gone or a zombie not yet reaped by its new parent."""
    return [pid for pid in pids if (fields := _stat(pid)) is not None and fields[0] != "Z"]


def _group(pgid: int) -> list[int]:
    candidates = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in _live(candidates) if (fields := _stat(pid)) is not None and int(fields[2]) == pgid]


def _none_left(pgid: int, *pids: int) -> bool:
    """No live process in the group (nor among `pids`) within a second: SIGKILL takes effect in moments."""
    deadline = time.monotonic() + 1.0
    while _group(pgid) or _live(list(pids)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_helper_that_outlives_the_browser_process_is_ended_before_the_profile_is_removed(tmp_path):
    executable = tmp_path / "chromium-stand-in"
    executable.write_text(LINGERING_HELPER)
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    chromium = Chromium(str(executable), tmp_path / "profiles" / "session")
    assert chromium.ws_url == "ws://127.0.0.1:9/devtools/browser/stand-in"
    helper = int((tmp_path / "profiles" / "helper.pid").read_text())
    try:
        chromium.stop()

        assert not chromium.running() and not chromium.user_data_dir.exists()
        assert _none_left(chromium.pid, helper)
        chromium.stop()  # idempotent
    finally:
        with contextlib.suppress(ProcessLookupError):  # a failed stop leaves no writer behind
            os.kill(helper, signal.SIGKILL)


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")
def test_a_real_chromium_leaves_no_process_of_its_group_and_no_profile(tmp_path):
    chromium = Chromium(str(chromium_path()), tmp_path / "session")
    assert chromium.ws_url.startswith("ws://127.0.0.1:")
    try:
        assert len(_group(chromium.pid)) > 1  # the browser process and its helpers

        chromium.stop()

        assert _none_left(chromium.pid) and not chromium.user_data_dir.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):  # a failed stop leaves no Chromium behind
            os.killpg(chromium.pid, signal.SIGKILL)
