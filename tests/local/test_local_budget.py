"""`make local` enforces the dev stage's token budget end to end: the stage's usage table in the local
DynamoDB, the agent process charging the scripted model's reported usage to the signed-in user."""

from __future__ import annotations

import pytest

from local.scripted_turns import USAGE
from tests.local.launcher import start
from tests.local.patched_stage import with_runtime_environment

PER_CALL = USAGE["inputTokens"] + USAGE["outputTokens"]


@pytest.fixture(scope="module")
def running(synthesized, tmp_path_factory):
    # A budget of one model call and a half: what `token_budget_per_user_per_day` in cdk.json gives.
    budget = str(PER_CALL + PER_CALL // 2)
    cdk_out = with_runtime_environment(
        synthesized.outdir, tmp_path_factory.mktemp("cdk.out"), TOKEN_BUDGET_USER=budget
    )
    stage = start(tmp_path_factory.mktemp("local") / "state", CDK_OUT=str(cdk_out))
    yield stage
    stage.interrupt()


def test_a_user_over_the_dev_stages_budget_is_refused_with_when_it_resets(running):
    for _ in range(2):  # a plain turn is one model call; the second overspends by less than a turn
        status, out, err = running.ask("hello")
        assert status == 0, err
    status, out, err = running.ask("hello again")
    assert status == 1
    assert out.strip() == ""  # nothing of an answer streamed
    assert "agent error (TokenBudgetExhausted): You have used today's token budget (27 tokens)." in err
    assert "It resets at 00:00 UTC, in " in err and "Traceback" not in err
    status, _, err = running.ask("hello", "--user", "bob")
    assert status == 0, err  # bob's budget is his own
