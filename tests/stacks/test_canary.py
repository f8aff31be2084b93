"""Canary releases in the templates of every stage (cdk.json: dev off, staging and prod on): a `canary`
endpoint beside `live` only with `canary_percent`, neither endpoint declaring what scripts/rollout.py owns,
`<project>-<stage>-canary-*` alarms on the canary's share only, and live vs canary on the dashboard."""

from __future__ import annotations

import json

import pytest

from stacks.config import CANARY_ENDPOINT
from tests.stacks.test_observability import _dashboard

STAGES = ("dev", "staging", "prod")
ENDPOINT = "AWS::BedrockAgentCore::RuntimeEndpoint"


def test_cdk_json_has_a_stage_with_and_one_without_a_canary(synthesized):
    canaries = {name: synthesized.stages[name].config.canary for name in STAGES}
    assert canaries == {"dev": False, "staging": True, "prod": True}


def _endpoints(template) -> dict[str, dict]:
    return {r["Properties"]["Name"]: r["Properties"] for r in template.find_resources(ENDPOINT).values()}


@pytest.mark.parametrize("stage", STAGES)
def test_a_canary_endpoint_exists_only_with_canary_percent(synthesized, stage):
    config = synthesized.stages[stage].config
    endpoints = _endpoints(synthesized.template(stage, "Runtime"))
    expected = {config.endpoint_name, CANARY_ENDPOINT} if config.canary else {config.endpoint_name}
    assert set(endpoints) == expected


@pytest.mark.parametrize("stage", STAGES)
def test_with_a_canary_no_endpoint_declares_the_version_or_description_the_rollout_owns(synthesized, stage):
    """Declared, every deploy would move `live` to the newest version (the L2 pins it to GetAtt
    AgentRuntimeVersion) and write back the controller's description; off, the stage keeps the L2's pin."""
    config = synthesized.stages[stage].config
    for props in _endpoints(synthesized.template(stage, "Runtime")).values():
        if config.canary:
            assert "AgentRuntimeVersion" not in props and "Description" not in props, props
        else:
            assert props["AgentRuntimeVersion"] == {"Fn::GetAtt": ["Runtime99E3DDFA", "AgentRuntimeVersion"]}


@pytest.mark.parametrize("stage", STAGES)
def test_the_runtime_publishes_what_callers_and_the_rollout_need(synthesized, stage):
    config = synthesized.stages[stage].config
    outputs = synthesized.template(stage, "Runtime").to_json()["Outputs"]
    assert outputs["RuntimeId"]["Value"] == {"Fn::GetAtt": ["Runtime99E3DDFA", "AgentRuntimeId"]}
    if config.canary:
        assert outputs["CanaryEndpointName"]["Value"] == CANARY_ENDPOINT
        assert outputs["CanaryPercent"]["Value"] == str(config.canary_percent)
    else:
        assert not {"CanaryEndpointName", "CanaryPercent"} & set(outputs)


def _alarms(template) -> dict[str, dict]:
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in alarms}


def _canary_alarm_names(synthesized, stage) -> set[str]:
    prefix = synthesized.stages[stage].config.dns_name("canary-")
    return {name for name in _alarms(synthesized.template(stage, "Observability")) if name.startswith(prefix)}


@pytest.mark.parametrize("stage", STAGES)
def test_canary_alarms_exist_only_with_a_canary_and_scores_only_with_online_evaluation(synthesized, stage):
    config = synthesized.stages[stage].config
    expected = set()
    if config.canary:
        expected = {config.dns_name(f"canary-{n}") for n in ("SystemErrors", "Throttles", "LatencyP90")}
        if config.online_evaluation:
            expected |= {
                config.dns_name(f"canary-{e.removeprefix('Builtin.')}Score") for e in config.online_evaluators
            }
    assert _canary_alarm_names(synthesized, stage) == expected


def test_canary_alarms_watch_the_canary_endpoint_only(synthesized):
    alarms = _alarms(synthesized.template("staging", "Observability"))
    for name in ("agentcore-staging-canary-SystemErrors", "agentcore-staging-canary-Throttles"):
        (query,) = alarms[name]["Metrics"]
        text = json.dumps(query["Expression"])
        assert "WHERE Resource = '" in text and "AND Name = 'agentcore_staging_agent::canary'" in text, name
    latency = alarms["agentcore-staging-canary-LatencyP90"]
    assert latency["ExtendedStatistic"] == "p90"
    assert {"Name": "Name", "Value": "agentcore_staging_agent::canary"} in latency["Dimensions"]
    # The score alarms read the canary's own evaluation configuration, not the live one's.
    runtime = synthesized.template("staging", "Runtime").to_json()["Resources"]
    evaluations = {
        r["Properties"]["OnlineEvaluationConfigName"]: r["Properties"]["DataSourceConfig"]
        for r in runtime.values()
        if r["Type"] == "AWS::BedrockAgentCore::OnlineEvaluationConfig"
    }
    assert set(evaluations) == {"agentcore_staging_evaluation", "agentcore_staging_canary_evaluation"}
    canary_logs = json.dumps(evaluations["agentcore_staging_canary_evaluation"])
    assert '"-canary"' in canary_logs and '"-live"' not in canary_logs
    score = json.dumps(alarms["agentcore-staging-canary-HelpfulnessScore"]["Metrics"])
    assert "CanaryEvaluationConfig" in score and "OnlineEvaluationConfigB" not in score


@pytest.mark.parametrize("stage", STAGES)
def test_the_smoke_checked_alarm_list_leaves_the_canary_out(synthesized, stage):
    """The smoke test expects every `AlarmNames` metric to exist; the canary's exist only during a bake."""
    outputs = synthesized.template(stage, "Observability").to_json()["Outputs"]
    assert "-canary-" not in json.dumps(outputs["AlarmNames"])
    canary = _canary_alarm_names(synthesized, stage)
    if canary:
        listed = json.dumps(outputs["CanaryAlarmNames"])
        assert len(canary) == listed.count('"Ref"')
    else:
        assert "CanaryAlarmNames" not in outputs


@pytest.mark.parametrize("stage", STAGES)
def test_the_dashboard_shows_live_and_canary_side_by_side_only_with_a_canary(synthesized, stage):
    config = synthesized.stages[stage].config
    body, _ = _dashboard(synthesized.template(stage, "Observability"))
    rollout = [w for w in body["widgets"] if w.get("properties", {}).get("title", "").startswith("Rollout:")]
    if not config.canary:
        assert rollout == []
        return
    assert [w["properties"]["title"] for w in rollout] == [
        "Rollout: invocations, live vs canary",
        "Rollout: errors (5xx), live vs canary",
        "Rollout: latency p90, live vs canary",
    ]
    for widget in rollout:
        live, canary = widget["properties"]["metrics"]
        assert f"agent::{config.endpoint_name}" in json.dumps(live) and "::canary" in json.dumps(canary)
