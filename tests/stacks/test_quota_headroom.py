"""Quota headroom alarms: a Metrics Insights query per quota, alarming at a share of the documented limit
(or the stage's raised one), and the dashboard row that draws each value against its limit."""

from __future__ import annotations

import json

import pytest

from stacks.config import ConfigError, load_stage
from stacks.quota_headroom import QUOTAS, limit

BASE = {"region": "us-east-1", "model_id": "us.anthropic.claude-sonnet-4-20250514-v1:0"}


def _text(expression) -> str:
    """An alarm's expression with each deploy-time value as <ref>."""
    if isinstance(expression, str):
        return expression
    return "".join(p if isinstance(p, str) else "<ref>" for p in expression["Fn::Join"][1])


def _alarms(template) -> dict[str, dict]:
    return {
        a["Properties"]["AlarmName"].removeprefix("agentcore-dev-"): a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }


@pytest.mark.parametrize(
    ("region", "sessions"), [("us-east-1", 5_000), ("us-west-2", 5_000), ("eu-west-1", 2_500)]
)
def test_documented_limits_per_region_and_an_override_wins(region, sessions):
    by_key = {q.key: q for q in QUOTAS}
    base = {**BASE, "region": region, "model_id": "anthropic.claude-3-haiku-20240307-v1:0"}
    config = load_stage("agentcore", "dev", base, {})
    assert limit(config, by_key["active_sessions"]) == sessions
    assert limit(config, by_key["new_sessions_per_minute"]) == 25 * 60
    assert limit(config, by_key["gateway_calls_per_minute"]) == 200 * 60
    assert limit(config, by_key["search_calls_per_minute"]) == 25
    raised = load_stage("agentcore", "dev", base, {"quota_active_sessions": 9_000})
    assert limit(raised, by_key["active_sessions"]) == 9_000


def test_a_bad_override_names_the_key():
    with pytest.raises(ConfigError, match="key 'quota_gateway_calls_per_minute': must be between 1 and"):
        load_stage("agentcore", "dev", BASE, {"quota_gateway_calls_per_minute": 0})


def test_each_quota_alarms_on_a_query_at_its_share_of_the_limit(synthesized):
    config = synthesized.stages["dev"].config
    alarms = _alarms(synthesized.template("dev", "Observability"))
    queries = {
        "ActiveSessionsHeadroom": 'SELECT MAX(ActiveSessionCount) FROM "AWS/Bedrock-AgentCore"',
        "NewSessionsHeadroom": 'SELECT MAX(SessionCount) FROM "AWS/Bedrock-AgentCore" WHERE Resource = ',
        "GatewayCallsHeadroom": 'SELECT MAX(Invocations) FROM "AWS/Bedrock-AgentCore" WHERE Resource = ',
        "SearchCallsHeadroom": 'SELECT MAX(Invocations) FROM "AWS/Bedrock-AgentCore" WHERE Resource = ',
        "MemoryThrottles": 'SELECT SUM(Throttles) FROM "AWS/Bedrock-AgentCore" WHERE Resource = ',
    }
    for name, query in queries.items():
        (metric,) = alarms[name]["Metrics"]
        assert _text(metric["Expression"]).startswith(query), name
        assert metric["Period"] == 60 and alarms[name]["TreatMissingData"] == "notBreaching"
    for quota in QUOTAS:
        assert alarms[quota.name]["Threshold"] == limit(config, quota) * config.quota_alarm_percent / 100
    resources = {name: json.dumps(alarms[name]["Metrics"]) for name in queries}
    assert (
        "Runtime" in resources["NewSessionsHeadroom"]
        and "AgentRuntimeArn" in resources["NewSessionsHeadroom"]
    )
    assert "AgentRuntimeArn" in resources["SearchCallsHeadroom"]
    assert "Gateway" in resources["GatewayCallsHeadroom"] and "Memory" in resources["MemoryThrottles"]


def test_the_dashboard_draws_each_quota_against_its_limit(synthesized):
    template = synthesized.template("dev", "Observability")
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for quota in QUOTAS:
        assert quota.title in body
    assert body.count(r"\"label\":\"quota\"") == len(QUOTAS)
