"""A local stage killed without a clean stop (closed terminal, crash): once its processes are gone, its
stage.json left behind misleads nothing; while one of them lives, nothing takes its state away."""

from __future__ import annotations

import fcntl
import io
import os
import signal

import pytest

from local.stage import STAGE_FILE, LocalStageError, reset
from local.stage_lock import LOCK_FILE, is_running
from tests.local.launcher import invoke, start


def ask_local(state) -> tuple[int, str]:
    err = io.StringIO()
    status = invoke.main(
        ["--local", "hi"], out=io.StringIO(), err=err, environ={"LOCAL_STATE_DIR": str(state)}
    )
    return status, err.getvalue()


def wait_until_every_process_is_gone(state) -> None:
    """Blocks on the stage's lock itself: the kernel grants it when the last holder has exited."""
    descriptor = os.open(state / LOCK_FILE, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    finally:
        os.close(descriptor)


def test_a_killed_stage_is_noticed_at_once_and_make_local_and_reset_proceed(synthesized, tmp_path):
    state, cdk_out = tmp_path / "state", str(synthesized.outdir)
    running = start(state, CDK_OUT=cdk_out)
    try:
        with pytest.raises(RuntimeError, match=f"local: a local stage is already running in {state}; "):
            start(state, CDK_OUT=cdk_out)  # a second `make local` with the same state
        assert (state / STAGE_FILE).exists()  # the refused start took nothing from the running one
        os.kill(running.process.pid, signal.SIGKILL)  # the stage dies; its agent lives on, holding the lock
        running.process.wait()
        assert (state / STAGE_FILE).exists() and is_running(state)
        with pytest.raises(LocalStageError, match="is running"):
            reset(state)
    finally:
        os.killpg(running.process.pid, signal.SIGKILL)  # the rest of its group: the agent, any Chromium
    wait_until_every_process_is_gone(state)
    assert (state / STAGE_FILE).exists() and not is_running(state)

    status, err = ask_local(state)  # one line at once, no login attempt at a dead issuer
    assert status == 2
    assert err.splitlines() == [
        f"error: the local stage in {state} ended without a clean stop (its processes are gone, "
        f"{STAGE_FILE} was left behind): start `make local` again"
    ]
    again = start(state, CDK_OUT=cdk_out)  # make local proceeds in the same state directory
    try:
        status, _, err = again.ask("Where is my order ORD-1001?")
        assert status == 0, err
    finally:
        assert again.interrupt() == 130
    (state / STAGE_FILE).write_text("{}")  # left behind by a killed stage
    reset(state)  # make local-reset proceeds
    assert not state.exists()
