"""The stage's spend guards in its templates: a budget on the stage's tag that notifies the alarm topic, the
top-spender rule over the agent's usage lines, its share alarm and the dashboard's widgets."""

from __future__ import annotations

import json

import pytest

from stacks.spend_guards import STAGE_TAG


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.template("dev", "Observability")


def _one(template, kind):
    (resource,) = template.find_resources(kind).values()
    return resource["Properties"]


def test_the_budget_filters_the_stages_tag_and_alerts_the_alarm_topic(dev, synthesized):
    config = synthesized.stages["dev"].config
    budget = _one(dev, "AWS::Budgets::Budget")
    data = budget["Budget"]
    assert (data["BudgetType"], data["TimeUnit"]) == ("COST", "MONTHLY")
    assert data["BudgetLimit"] == {"Amount": config.monthly_budget_usd, "Unit": "USD"}
    assert data["FilterExpression"] == {
        "Tags": {"Key": STAGE_TAG, "Values": ["agentcore-dev"], "MatchOptions": ["EQUALS"]}
    }
    alerts = [
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"])
        for n in budget["NotificationsWithSubscribers"]
    ]
    assert alerts == [("ACTUAL", p) for p in config.budget_alert_percents] + [("FORECASTED", 100)]
    (topic,) = dev.find_resources("AWS::SNS::Topic")
    for notification in budget["NotificationsWithSubscribers"]:
        assert notification["Subscribers"] == [{"Address": {"Ref": topic}, "SubscriptionType": "SNS"}]


def test_only_this_accounts_budget_may_publish_to_the_encrypted_topic(dev):
    statements = [
        s
        for kind in ("AWS::SNS::TopicPolicy", "AWS::KMS::Key")
        for resource in dev.find_resources(kind).values()
        for s in (resource["Properties"].get("PolicyDocument") or resource["Properties"].get("KeyPolicy"))[
            "Statement"
        ]
        if s.get("Principal") == {"Service": "budgets.amazonaws.com"}
    ]
    assert sorted(s["Sid"] for s in statements) == ["StageBudgetEncrypt", "StageBudgetPublish"]
    for statement in statements:
        assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]
        assert "budget/agentcore-dev-monthly" in json.dumps(statement["Condition"]["ArnLike"])


def test_every_resource_of_a_stage_carries_its_stage_tag(synthesized):
    for stack in ("Usage", "Memory", "Runtime", "Observability"):
        template = synthesized.template("dev", stack)
        tagged = [r for r in template.to_json()["Resources"].values() if "Tags" in r.get("Properties", {})]
        assert tagged, stack
        for resource in tagged:
            tags = resource["Properties"]["Tags"]
            pairs = tags.items() if isinstance(tags, dict) else [(t["Key"], t["Value"]) for t in tags]
            assert (STAGE_TAG, "agentcore-dev") in pairs, (stack, resource["Type"])


def test_the_top_spender_rule_ranks_callers_by_the_agents_usage_lines(dev):
    rule = _one(dev, "AWS::CloudWatch::InsightRule")
    assert rule["RuleName"] == "agentcore-dev-top-spenders" and rule["RuleState"] == "ENABLED"
    body = json.dumps(rule["RuleBody"])
    for part in (
        "/aws/bedrock-agentcore/runtimes/",
        "-live",
        r"\"Keys\":[\"$.actor_id\"]",
        r"\"ValueOf\":\"$.total_tokens\"",
        r"\"In\":[\"turn_usage\"]",
    ):
        assert part in body, part


def test_the_share_alarm_needs_a_busy_hour_and_the_dashboard_shows_both(dev, synthesized):
    config = synthesized.stages["dev"].config
    alarm = [
        a["Properties"]
        for a in dev.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == "agentcore-dev-TopSpenderShare"
    ]
    (alarm,) = alarm
    (expression,) = alarm["Metrics"]
    total = "INSIGHT_RULE_METRIC('agentcore-dev-top-spenders', 'Sum')"
    assert expression["Expression"].startswith(f"IF({total} >= {config.top_spender_min_tokens_per_hour}, ")
    assert expression["Period"] == 3600 and alarm["Threshold"] == config.top_spender_share_percent
    assert alarm["TreatMissingData"] == "notBreaching"
    body = json.dumps(_one(dev, "AWS::CloudWatch::Dashboard")["DashboardBody"])
    assert (
        r"\"insightRule\":{\"maxContributorCount\":10,\"orderBy\":\"Sum\",\"ruleName\":\"agentcore-dev-top-spenders\"}"
        in body
    )
