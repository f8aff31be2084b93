"""scripts/alarm_metrics.py against moto's CloudWatch (the real API shapes): each alarm's metric must be
listed, with its exact dimension set for a metric alarm, or at least its WHERE filter for a query."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from scripts.alarm_metrics import Unreadable, missing_metrics, parse_query, watched_metrics

REGION = "eu-west-1"
RUNTIME_ARN = "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/agent-AbCdEf1234"
QUERY = f"SELECT SUM(SystemErrors) FROM \"AWS/Bedrock-AgentCore\" WHERE Resource = '{RUNTIME_ARN}'"
ENDPOINT = [
    {"Name": "Operation", "Value": "InvokeAgentRuntime"},
    {"Name": "Name", "Value": "agent::live"},
    {"Name": "Resource", "Value": RUNTIME_ARN},
]


@pytest.fixture
def cloudwatch(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("cloudwatch", region_name=REGION)
        client.put_metric_alarm(
            AlarmName="agentcore-dev-RuntimeSystemErrors",
            Metrics=[{"Id": "q", "Expression": QUERY, "Period": 300, "ReturnData": True}],
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        client.put_metric_alarm(
            AlarmName="agentcore-dev-RuntimeLatencyP99",
            Namespace="AWS/Bedrock-AgentCore",
            MetricName="Latency",
            Dimensions=ENDPOINT,
            ExtendedStatistic="p99",
            Period=300,
            EvaluationPeriods=1,
            Threshold=30000,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        yield client


def publish(client, metric: str, dimensions: list[dict[str, str]]) -> None:
    client.put_metric_data(
        Namespace="AWS/Bedrock-AgentCore",
        MetricData=[{"MetricName": metric, "Dimensions": dimensions, "Value": 0, "Unit": "Count"}],
    )


ALARMS = ["agentcore-dev-RuntimeSystemErrors", "agentcore-dev-RuntimeLatencyP99"]


def test_published_metrics_satisfy_both_kinds_of_alarm(cloudwatch):
    publish(
        cloudwatch, "SystemErrors", ENDPOINT
    )  # the query matches a set with more dimensions than Resource
    publish(cloudwatch, "Latency", ENDPOINT)
    assert missing_metrics(cloudwatch, ALARMS) == {}


def test_an_alarm_without_its_metric_is_named(cloudwatch):
    publish(cloudwatch, "Latency", ENDPOINT)
    problems = missing_metrics(cloudwatch, ALARMS)
    assert list(problems) == ["agentcore-dev-RuntimeSystemErrors"]
    assert "SystemErrors" in problems["agentcore-dev-RuntimeSystemErrors"]
    assert RUNTIME_ARN in problems["agentcore-dev-RuntimeSystemErrors"]


def test_a_metric_alarm_needs_its_exact_dimension_set(cloudwatch):
    publish(cloudwatch, "SystemErrors", [{"Name": "Resource", "Value": RUNTIME_ARN}])
    publish(cloudwatch, "Latency", [{"Name": "Resource", "Value": RUNTIME_ARN}])  # not the alarm's set
    assert list(missing_metrics(cloudwatch, ALARMS)) == ["agentcore-dev-RuntimeLatencyP99"]


def test_a_query_needs_its_resource_not_another(cloudwatch):
    other = [{"Name": "Resource", "Value": RUNTIME_ARN.replace("AbCdEf1234", "Other12345")}]
    publish(cloudwatch, "SystemErrors", other)
    publish(cloudwatch, "Latency", ENDPOINT)
    assert list(missing_metrics(cloudwatch, ALARMS)) == ["agentcore-dev-RuntimeSystemErrors"]


def test_an_unknown_alarm_name_is_an_error_not_a_pass(cloudwatch):
    with pytest.raises(LookupError, match="agentcore-dev-Nope"):
        missing_metrics(cloudwatch, [*ALARMS, "agentcore-dev-Nope"])


def test_it_asks_again_until_the_wait_is_over(cloudwatch):
    now = [0.0]
    naps: list[float] = []

    def sleep(seconds: float) -> None:  # the metrics are published while the check waits
        naps.append(seconds)
        now[0] += seconds
        publish(cloudwatch, "SystemErrors", ENDPOINT)
        publish(cloudwatch, "Latency", ENDPOINT)

    found = missing_metrics(
        cloudwatch, ALARMS, wait_seconds=60, poll_seconds=30, clock=lambda: now[0], sleep=sleep
    )
    assert found == {} and naps == [30]


def test_a_query_filter_is_read_back_with_quoted_names():
    watched = parse_query(
        'SELECT AVG("Builtin.Helpfulness") FROM "Bedrock-AgentCore/Evaluations" '
        "WHERE onlineEvaluationConfigId = 'cfg-1' AND \"service.name\" = 'agent'"
    )
    assert (watched.namespace, watched.metric) == ("Bedrock-AgentCore/Evaluations", "Builtin.Helpfulness")
    assert watched.dimensions == {"onlineEvaluationConfigId": "cfg-1", "service.name": "agent"}
    assert not watched.exact


@pytest.mark.parametrize(
    "query",
    [
        'SELECT SUM(Errors) FROM SCHEMA("AWS/Bedrock-AgentCore", Resource)',
        "SELECT SUM(Errors) FROM \"AWS/Bedrock-AgentCore\" WHERE Resource != 'x'",
        "SELECT SUM(Errors) FROM \"AWS/Bedrock-AgentCore\" WHERE Resource = 'x' OR Name = 'y'",
    ],
)
def test_a_query_of_another_shape_cannot_be_checked(query):
    with pytest.raises(Unreadable):
        parse_query(query)


def test_an_alarm_on_math_without_a_metric_is_unreadable():
    with pytest.raises(Unreadable):
        watched_metrics({"AlarmName": "a", "Metrics": [{"Id": "e", "Expression": "1 + 1"}]})


def test_an_account_wide_query_needs_the_metric_anywhere_in_its_namespace(cloudwatch):
    query = 'SELECT MAX(ActiveSessionCount) FROM "AWS/Bedrock-AgentCore"'
    assert parse_query(query).dimensions == {}
    cloudwatch.put_metric_alarm(
        AlarmName="agentcore-dev-ActiveSessionsHeadroom",
        Metrics=[{"Id": "q", "Expression": query, "Period": 60, "ReturnData": True}],
        EvaluationPeriods=1,
        Threshold=4000,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    assert list(missing_metrics(cloudwatch, ["agentcore-dev-ActiveSessionsHeadroom"])) == [
        "agentcore-dev-ActiveSessionsHeadroom"
    ]
    publish(cloudwatch, "ActiveSessionCount", [{"Name": "Service", "Value": "AgentCore.Runtime"}])
    assert missing_metrics(cloudwatch, ["agentcore-dev-ActiveSessionsHeadroom"]) == {}


def test_an_alarm_on_a_contributor_insights_rule_needs_the_rule_on(cloudwatch):
    expression = "100 * INSIGHT_RULE_METRIC('agentcore-dev-top-spenders', 'MaxContributorValue')"
    cloudwatch.put_metric_alarm(
        AlarmName="agentcore-dev-TopSpenderShare",
        Metrics=[{"Id": "e", "Expression": expression, "Period": 3600, "ReturnData": True}],
        EvaluationPeriods=1,
        Threshold=50,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    problems = missing_metrics(cloudwatch, ["agentcore-dev-TopSpenderShare"])
    assert "agentcore-dev-top-spenders" in problems["agentcore-dev-TopSpenderShare"]
    cloudwatch.put_insight_rule(
        RuleName="agentcore-dev-top-spenders", RuleState="ENABLED", RuleDefinition="{}"
    )
    assert missing_metrics(cloudwatch, ["agentcore-dev-TopSpenderShare"]) == {}
