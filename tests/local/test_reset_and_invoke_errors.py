"""`make local-reset` and `invoke.py --local` fail with one clear line instead of doing the wrong thing."""

from __future__ import annotations

import io
import os

import pytest

from local import stage_lock
from local.stage import STAGE_FILE, LocalStageError, choose_model, reset
from tests.local.launcher import invoke


def test_reset_removes_the_state_but_not_while_the_stage_runs(tmp_path):
    state = tmp_path / "state"
    (state / "dynamodb").mkdir(parents=True)
    (state / STAGE_FILE).write_text("{}")
    lock = stage_lock.hold(state)  # what a running stage holds
    with pytest.raises(LocalStageError, match="is running"):
        reset(state)
    assert (state / "dynamodb").exists()
    os.close(lock)
    reset(state)  # the stage.json left behind is no obstacle once no process holds the lock
    assert not state.exists()


def test_invoke_local_without_a_running_stage_says_how_to_start_one(tmp_path):
    err = io.StringIO()
    status = invoke.main(
        ["--local", "hi"], out=io.StringIO(), err=err, environ={"LOCAL_STATE_DIR": str(tmp_path)}
    )
    assert status == 2
    missing = tmp_path / "stage.json"
    assert err.getvalue().strip().splitlines() == [
        f"error: no local stage is running ({missing} missing or unreadable): start `make local`"
    ]


def test_user_without_local_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_:
        invoke.parse_args(["--user", "bob", "hi"])
    assert exit_.value.code == 2


def test_the_model_defaults_to_scripted_without_credentials_and_rejects_unknown_choices(tmp_path):
    no_credentials = {"HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    no_credentials["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    assert choose_model(None, no_credentials) == "scripted"
    assert (
        choose_model(None, {**no_credentials, "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "x"})
        == "bedrock"
    )
    with pytest.raises(LocalStageError, match="'llama' is not one of bedrock, openai, scripted"):
        choose_model("llama", no_credentials)
