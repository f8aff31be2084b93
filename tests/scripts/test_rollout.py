"""scripts/rollout.py against botocore Stubbers (bedrock-agentcore-control, cloudwatch): requests and
responses are validated against botocore's service models, and every expected call must happen, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from scripts import rollout, step_role
from tests.doubles import recorded_clients

RID = "dev_agent-AbCdEf1234"
PREFIX = "agentcore-dev-canary-"  # the stage's canary alarms (stacks/observability_stack.py)
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
ARN = f"arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/{RID}"


def _endpoint(
    name: str,
    version: str,
    description: str = "managed by rollout",
    updated: datetime = T0,
    status: str = "READY",
    target: str | None = None,
    failure: str | None = None,
) -> dict:
    return {
        "liveVersion": version,
        "targetVersion": target or version,
        "agentRuntimeEndpointArn": f"{ARN}/runtime-endpoint/{name}",
        "agentRuntimeArn": ARN,
        "description": description,
        "status": status,
        **({"failureReason": failure} if failure else {}),
        "createdAt": T0 - timedelta(days=1),
        "lastUpdatedAt": updated,
        "name": name,
        "id": name,
    }


class Clock:
    """An injected clock: `wait` advances time instead of sleeping."""

    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t

    def wait(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def clients():
    control = boto3.client("bedrock-agentcore-control", region_name="us-east-1")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    with Stubber(control) as c, Stubber(cloudwatch) as w:
        yield control, cloudwatch, c, w
        c.assert_no_pending_responses()
        w.assert_no_pending_responses()


def _get(c: Stubber, name: str, version: str, **kw) -> None:
    c.add_response(
        "get_agent_runtime_endpoint",
        _endpoint(name, version, **kw),
        {"agentRuntimeId": RID, "endpointName": name},
    )


def _version(v: str) -> dict:
    return {
        "agentRuntimeArn": ARN,
        "agentRuntimeId": RID,
        "agentRuntimeVersion": v,
        "agentRuntimeName": "dev_agent",
        "description": "agent",
        "lastUpdatedAt": T0,
        "status": "READY",
    }


def _versions(c: Stubber, newest: str) -> None:
    """Two pages: the newest version is on the second (not sorted as strings either: "9" > "10")."""
    c.add_response(
        "list_agent_runtime_versions",
        {"agentRuntimes": [_version("1"), _version("9")], "nextToken": "page-2"},
        {"agentRuntimeId": RID},
    )
    c.add_response(
        "list_agent_runtime_versions",
        {"agentRuntimes": [_version(newest)]},
        {"agentRuntimeId": RID, "nextToken": "page-2"},
    )


def _update(c: Stubber, name: str, version: str, description: str) -> None:
    body = {k: v for k, v in _endpoint(name, version).items() if k not in ("description", "name", "id")}
    c.add_response(
        "update_agent_runtime_endpoint",
        body,
        {
            "agentRuntimeId": RID,
            "endpointName": name,
            "agentRuntimeVersion": version,
            "description": description,
        },
    )


def _alarms(w: Stubber, firing: list[str]) -> None:
    alarms = [{"AlarmName": name, "StateValue": "ALARM"} for name in firing]
    w.add_response(
        "describe_alarms",
        {"MetricAlarms": alarms, "CompositeAlarms": []},
        {"AlarmNamePrefix": PREFIX, "StateValue": "ALARM"},
    )


def _new_version_to_canary(c: Stubber) -> None:
    """The calls that start every fresh rollout: live on 9, version 10 is new, canary moves from 9 to 10."""
    _get(c, "live", "9")
    _versions(c, "10")
    _get(c, "canary", "9")
    _update(c, "canary", "10", "baking 10")


def _run(control, cloudwatch, clock: Clock, bake_minutes: float = 2):
    return rollout.rollout(
        control,
        cloudwatch,
        runtime_id=RID,
        alarm_prefix=PREFIX,
        bake=timedelta(minutes=bake_minutes),
        now=clock.now,
        wait=clock.wait,
    )


def test_a_clean_bake_promotes_live(clients) -> None:
    control, cloudwatch, c, w = clients
    _new_version_to_canary(c)
    _get(c, "canary", "9", status="UPDATING", target="10")  # the update is asynchronous
    _get(c, "canary", "10", updated=T0 + timedelta(seconds=10))  # READY after one poll: the bake starts
    for _ in range(3):  # t = 10, 70, 130 s: the bake of 2 minutes ends on the third look
        _alarms(w, [])
    _update(c, "live", "10", "promoted 10")
    _get(c, "live", "10")
    clock = Clock()
    code, outcome = _run(control, cloudwatch, clock)
    assert code == 0 and "live promoted to version 10" in outcome
    assert clock.t == T0 + timedelta(seconds=130)


def test_an_alarm_during_the_bake_rolls_back_and_names_it(clients) -> None:
    control, cloudwatch, c, w = clients
    _new_version_to_canary(c)
    _get(c, "canary", "10")
    _alarms(w, [])
    _alarms(w, ["agentcore-dev-canary-SystemErrors"])
    _update(c, "canary", "9", "rolled back 10: agentcore-dev-canary-SystemErrors")
    code, outcome = _run(control, cloudwatch, Clock())
    assert (
        code == 1 and "agentcore-dev-canary-SystemErrors" in outcome and "live stays on version 9" in outcome
    )


def test_a_rerun_after_a_rollback_fails_again_without_touching_an_endpoint(clients) -> None:
    control, cloudwatch, c, _ = clients
    _get(c, "live", "9")
    _versions(c, "10")
    _get(c, "canary", "9", description="rolled back 10: agentcore-dev-canary-SystemErrors")
    code, outcome = _run(control, cloudwatch, Clock())
    assert code == 1 and "agentcore-dev-canary-SystemErrors" in outcome


def test_a_rerun_after_a_crash_mid_bake_resumes_the_bake_from_the_endpoint(clients) -> None:
    """The first run died after pointing canary at 10, 90 s ago: no second update, 30 s of bake left."""
    control, cloudwatch, c, w = clients
    clock = Clock()
    _get(c, "live", "9")
    _versions(c, "10")
    _get(c, "canary", "10", updated=T0 - timedelta(seconds=90))
    _get(c, "canary", "10", updated=T0 - timedelta(seconds=90))  # already READY on 10: no wait
    _alarms(w, [])
    _alarms(w, [])
    _update(c, "live", "10", "promoted 10")
    _get(c, "live", "10")
    code, _ = _run(control, cloudwatch, clock)
    assert code == 0 and clock.t == T0 + timedelta(seconds=30)


def test_a_rerun_after_promotion_does_nothing(clients) -> None:
    control, cloudwatch, c, _ = clients
    _get(c, "live", "10")
    _versions(c, "10")
    assert _run(control, cloudwatch, Clock()) == (0, "live is on version 10: nothing to roll out")


def test_a_rerun_while_the_canary_is_still_updating_waits_for_it_without_a_second_update(clients) -> None:
    control, cloudwatch, c, w = clients
    clock = Clock()
    _get(c, "live", "9")
    _versions(c, "10")
    _get(c, "canary", "9", status="UPDATING", target="10")
    _get(c, "canary", "9", status="UPDATING", target="10")
    _get(c, "canary", "10", updated=T0 + timedelta(seconds=10))
    _alarms(w, ["agentcore-dev-canary-LatencyP90"])
    _update(c, "canary", "9", "rolled back 10: agentcore-dev-canary-LatencyP90")
    code, outcome = _run(control, cloudwatch, clock)
    assert (
        code == 1 and "agentcore-dev-canary-LatencyP90" in outcome and clock.t == T0 + timedelta(seconds=10)
    )


def test_a_canary_update_that_fails_rolls_back_naming_the_reason(clients) -> None:
    control, cloudwatch, c, _ = clients
    _new_version_to_canary(c)
    _get(c, "canary", "9", status="UPDATE_FAILED", target="10", failure="image pull denied")
    _update(c, "canary", "9", "rolled back 10: canary is UPDATE_FAILED: image pull denied")
    code, outcome = _run(control, cloudwatch, Clock())
    assert code == 1 and "image pull denied" in outcome and "live stays on version 9" in outcome


def test_a_canary_never_ready_rolls_back_after_the_ready_timeout(clients) -> None:
    control, cloudwatch, c, _ = clients
    clock = Clock()
    _new_version_to_canary(c)
    polls = int(rollout.READY_TIMEOUT.total_seconds() // rollout.READY_POLL_SECONDS) + 1
    for _ in range(polls):
        _get(c, "canary", "9", status="UPDATING", target="10")
    _update(c, "canary", "9", "rolled back 10: canary is UPDATING: not READY on version 10 in 0:15:00")
    code, _ = _run(control, cloudwatch, clock)
    assert code == 1 and clock.t == T0 + rollout.READY_TIMEOUT


def test_a_promotion_that_does_not_take_fails_the_step_and_live_keeps_its_version(clients) -> None:
    control, cloudwatch, c, w = clients
    _get(c, "live", "9")
    _versions(c, "10")
    _get(c, "canary", "10")
    _get(c, "canary", "10")
    _alarms(w, [])
    _alarms(w, [])
    _alarms(w, [])
    _update(c, "live", "10", "promoted 10")
    _get(c, "live", "9", status="UPDATE_FAILED", target="10", failure="internal error")
    code, outcome = _run(control, cloudwatch, Clock())
    assert (
        code == 1 and outcome == "live was not promoted to version 10: live is UPDATE_FAILED: internal error"
    )


def test_the_command_line_refuses_the_canary_as_live_in_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        rollout.main(["--runtime-id", RID, "--alarm-prefix", PREFIX, "--live-endpoint", "canary"])
    assert exit_.value.code == 2
    assert "--live-endpoint cannot be 'canary'" in capsys.readouterr().err.splitlines()[-1]


def test_with_a_stage_role_both_clients_are_made_as_that_role(clients, monkeypatch, capsys) -> None:
    control, cloudwatch, c, _ = clients
    _get(c, "live", "10")
    _versions(c, "10")
    recorded = recorded_clients.record(monkeypatch)
    made = {"bedrock-agentcore-control": control, "cloudwatch": cloudwatch}
    monkeypatch.setattr(boto3, "client", lambda service, *_, **__: made[service])
    environ = {step_role.ENVIRONMENT: recorded_clients.ROLE}
    assert rollout.main(["--runtime-id", RID, "--alarm-prefix", PREFIX], environ=environ) == 0
    assert recorded.roles == [(recorded_clients.ROLE, "agentcore-rollout")]
    assert sorted(recorded.services) == ["bedrock-agentcore-control", "cloudwatch"]
    assert "nothing to roll out" in capsys.readouterr().out


def test_a_step_role_that_is_not_a_role_arn_is_one_line(capsys) -> None:
    argv = ["--runtime-id", RID, "--alarm-prefix", PREFIX, "--role-arn", "agentcore-prod-pipeline-steps"]
    assert rollout.main(argv, environ={}) == 2
    assert capsys.readouterr().err == (
        "rollout: --role-arn 'agentcore-prod-pipeline-steps' is not an IAM role ARN "
        "(arn:aws:iam::<12-digit account>:role/<name>)\n"
    )
