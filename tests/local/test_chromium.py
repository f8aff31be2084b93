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
LINGERING_HELPER = """#!/bin/sh
for arg in "$@"; do case "$arg" in --user-data-dir=*) profile="${arg#--user-data-dir=}";; esac; done
(trap '' TERM; i=0; while :; do i=$((i+1)); echo x > "$profile/helper-$i"; done) &
echo "$!" > "$profile/../helper.pid"
echo "DevTools listening on ws://127.0.0.1:9/devtools/browser/stand-in" >&2
trap 'exit 0' TERM
while :; do sleep 0.05; done
"""


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _none_left(pgid: int, *pids: int) -> bool:
    """No live process in the group (nor among `pids`) within a second: SIGKILL takes effect in moments."""
    deadline = time.monotonic() + 1.0
    while _group_members(pgid) or any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie not yet reaped by its new parent."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


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
    assert len(_group_members(chromium.pid)) > 1  # the browser process and its helpers

    chromium.stop()

    assert _none_left(chromium.pid) and not chromium.user_data_dir.exists()
