"""scripts/rollout.py against botocore Stubbers (bedrock-agentcore-control, cloudwatch): requests and
responses are validated against botocore's service models, and every expected call must happen, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from scripts import rollout

RID = "dev_agent-AbCdEf1234"
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
ARN = f"arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/{RID}"


def _endpoint(
    name: str, version: str, description: str = "managed by rollout", updated: datetime = T0
) -> dict:
    return {
        "liveVersion": version,
        "targetVersion": version,
        "agentRuntimeEndpointArn": f"{ARN}/runtime-endpoint/{name}",
        "agentRuntimeArn": ARN,
        "description": description,
        "status": "READY",
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


def _versions(c: Stubber, newest: str) -> None:
    runtimes = [
        {
            "agentRuntimeArn": ARN,
            "agentRuntimeId": RID,
            "agentRuntimeVersion": v,
            "agentRuntimeName": "dev_agent",
            "description": "agent",
            "lastUpdatedAt": T0,
            "status": "READY",
        }
        for v in ("1", "9", newest)  # not sorted as strings: "9" > "10"
    ]
    c.add_response("list_agent_runtime_versions", {"agentRuntimes": runtimes}, {"agentRuntimeId": RID})


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
        {"AlarmNamePrefix": "dev-canary-", "StateValue": "ALARM"},
    )


def _run(control, cloudwatch, clock: Clock, bake_minutes: float = 2):
    return rollout.rollout(
        control,
        cloudwatch,
        runtime_id=RID,
        stage="dev",
        bake=timedelta(minutes=bake_minutes),
        now=clock.now,
        wait=clock.wait,
    )


def test_a_clean_bake_promotes_live(clients) -> None:
    control, cloudwatch, c, w = clients
    _get(c, "live", "9")
    _versions(c, "10")
    _get(c, "canary", "9")
    _update(c, "canary", "10", "baking 10")
    for _ in range(3):  # t = 0, 60, 120 s: the bake of 2 minutes ends on the third look
        _alarms(w, [])
    _update(c, "live", "10", "promoted 10")
    code, outcome = _run(control, cloudwatch, Clock())
    assert code == 0 and "live promoted to version 10" in outcome


def test_an_alarm_during_the_bake_rolls_back_and_names_it(clients) -> None:
    control, cloudwatch, c, w = clients
    _get(c, "live", "9")
    _versions(c, "10")
    _get(c, "canary", "9")
    _update(c, "canary", "10", "baking 10")
    _alarms(w, [])
    _alarms(w, ["dev-canary-errors"])
    _update(c, "canary", "9", "rolled back 10: dev-canary-errors")
    code, outcome = _run(control, cloudwatch, Clock())
    assert code == 1 and "dev-canary-errors" in outcome and "live stays on version 9" in outcome


def test_a_rerun_after_a_rollback_fails_again_without_touching_an_endpoint(clients) -> None:
    control, cloudwatch, c, _ = clients
    _get(c, "live", "9")
    _versions(c, "10")
    _get(c, "canary", "9", description="rolled back 10: dev-canary-errors")
    code, outcome = _run(control, cloudwatch, Clock())
    assert code == 1 and "dev-canary-errors" in outcome


def test_a_rerun_after_a_crash_mid_bake_resumes_the_bake_from_the_endpoint(clients) -> None:
    """The first run died after pointing canary at 10, 90 s ago: no second update, 30 s of bake left."""
    control, cloudwatch, c, w = clients
    clock = Clock()
    _get(c, "live", "9")
    _versions(c, "10")
    _get(c, "canary", "10", updated=T0 - timedelta(seconds=90))
    _alarms(w, [])
    _alarms(w, [])
    _update(c, "live", "10", "promoted 10")
    code, _ = _run(control, cloudwatch, clock)
    assert code == 0 and clock.t == T0 + timedelta(seconds=30)


def test_a_rerun_after_promotion_does_nothing(clients) -> None:
    control, cloudwatch, c, _ = clients
    _get(c, "live", "10")
    _versions(c, "10")
    assert _run(control, cloudwatch, Clock()) == (0, "live is on version 10: nothing to roll out")
