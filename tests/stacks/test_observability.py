"""Observability: vended logs/traces for every AgentCore resource, dashboards bound to real resources,
alarms with actions, and account-wide singletons created exactly once."""

from __future__ import annotations

import copy
import fnmatch
import json
import re

import pytest

from tests.conftest import cdk_context

TOKEN = re.compile(r"@@(\d+)@@")


def _resolve_join(value, tokens):
    """Flatten an Fn::Join of strings and intrinsics into text, intrinsics replaced by @@n@@ markers."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_resolve_join(part, tokens) for part in parts)
    tokens.append(value)
    return f"@@{len(tokens) - 1}@@"


def _dashboard(template):
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    tokens: list = []
    body = json.loads(_resolve_join(dashboard["Properties"]["DashboardBody"], tokens))
    return body, tokens


def _metrics(body):
    """(namespace, name, {dimension: value}) for every metric drawn, including those inside math."""
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            fields = [f for f in row if not isinstance(f, dict)]
            if fields and fields[0] != "...":
                namespace, name, *dims = fields
                yield namespace, name, dict(zip(dims[::2], dims[1::2], strict=True))


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.template("dev", "Observability")


def test_every_agentcore_and_lambda_metric_names_a_resource_of_this_stage(dev, synthesized):
    body, tokens = _dashboard(dev)
    metrics = list(_metrics(body))
    namespaces = {namespace for namespace, _, _ in metrics}
    assert namespaces == {"AWS/Bedrock-AgentCore", "AWS/Lambda", "AWS/Bedrock"}
    config = synthesized.stages["dev"].config
    for namespace, name, dims in metrics:
        where = f"{namespace}/{name} {dims}"
        assert dims, f"{where} has no dimensions"
        for value in dims.values():
            for index in TOKEN.findall(value):
                token = json.dumps(tokens[int(index)])
                assert '"StackName": "dev-' in token or "AWS::" in token, f"{where} points outside the stage"
        if namespace == "AWS/Bedrock-AgentCore":
            owner = re.search(
                r'"StackName": "dev-(\w+)"', json.dumps(tokens[int(TOKEN.search(dims["Resource"])[1])])
            )
            assert owner and owner[1] in {"Runtime", "Gateway", "Memory"}, where
            if owner[1] == "Runtime":
                assert dims["Name"] == f"agentcore_dev_agent::{config.endpoint_name}", where
                assert dims["Operation"] == "InvokeAgentRuntime"
        if namespace == "AWS/Lambda":
            assert "dev-Gateway" in json.dumps(tokens[int(TOKEN.search(dims["FunctionName"])[1])]), where
        if namespace == "AWS/Bedrock":
            assert dims == {"ModelId": config.model_id}, where


def test_dashboard_covers_runtime_gateway_memory_tools_and_tokens(dev):
    body, _ = _dashboard(dev)
    names = {(namespace, name) for namespace, name, _ in _metrics(body)}
    for metric in ("SessionCount", "Invocations", "Latency", "SystemErrors", "UserErrors", "Throttles",
                   "TargetExecutionTime", "CreationCount", "Errors"):  # fmt: skip
        assert ("AWS/Bedrock-AgentCore", metric) in names, metric
    assert {("AWS/Lambda", m) for m in ("Invocations", "Errors", "Duration", "Throttles")} <= names
    assert {("AWS/Bedrock", "InputTokenCount"), ("AWS/Bedrock", "OutputTokenCount")} <= names
    titles = " ".join(w["properties"].get("title", "") for w in body["widgets"])
    assert "p50 / p90 / p99" in titles and "cost" in titles
    text = [w for w in body["widgets"] if w["type"] == "text"]
    assert "Transaction Search" in text[0]["properties"]["markdown"]


def test_daily_cost_uses_the_configured_prices(dev, synthesized):
    config = synthesized.stages["dev"].config
    body, _ = _dashboard(dev)
    expressions = [
        row[0]["expression"]
        for w in body["widgets"]
        for row in w.get("properties", {}).get("metrics", [])
        if isinstance(row[0], dict) and "expression" in row[0]
    ]
    assert any(
        f"* {config.input_token_usd_per_1k}" in e and f"* {config.output_token_usd_per_1k}" in e
        for e in expressions
    )


def test_every_alarm_notifies_the_encrypted_topic_and_treats_missing_data_deliberately(dev, synthesized):
    (topic_id,) = dev.find_resources("AWS::SNS::Topic")
    topic = dev.find_resources("AWS::SNS::Topic")[topic_id]["Properties"]
    assert "KmsMasterKeyId" in topic
    alarms = dev.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 13
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}], name
        assert props["TreatMissingData"] == "notBreaching", name
        assert props["AlarmDescription"], name
    (latency,) = [a["Properties"] for n, a in alarms.items() if n.startswith("RuntimeLatencyP99")]
    assert latency["Threshold"] == synthesized.stages["dev"].config.latency_p99_threshold_ms
    assert latency["ExtendedStatistic"] == "p99"
    (policy,) = dev.find_resources("AWS::SNS::TopicPolicy").values()
    assert "aws:SecureTransport" in json.dumps(policy)


# Every alarm's metrics, as AWS documents them (docs/OBSERVABILITY.md has the evidence): namespace, metric,
# statistic and the exact dimension set (CloudWatch matches the set; one dimension more or less and the alarm
# watches a metric nobody publishes). Stack outputs are written `<stack>:<output name glob>`.
RUNTIME = {
    "Name": "agentcore_dev_agent::live",
    "Operation": "InvokeAgentRuntime",
    "Resource": "dev-Runtime:*AgentRuntimeArn*",
}
EXPECTED_ALARMS = {
    "RuntimeLatencyP99": [("AWS/Bedrock-AgentCore", "Latency", "p99", RUNTIME)],  # proven by the smoke
    "OrdersToolErrors": [
        ("AWS/Lambda", "Errors", "Sum", {"FunctionName": "dev-Gateway:*ToolsOrdersFunction*"})
    ],
    "InventoryToolErrors": [
        ("AWS/Lambda", "Errors", "Sum", {"FunctionName": "dev-Gateway:*ToolsInventoryFunction*"})
    ],
    # Math and Metrics Insights queries, no single metric (test_spend_guards.py, test_quota_headroom.py)
    "TopSpenderShare": [],
    "ActiveSessionsHeadroom": [],
    "NewSessionsHeadroom": [],
    "GatewayCallsHeadroom": [],
    "SearchCallsHeadroom": [],
    "MemoryThrottles": [],
}
# The AgentCore count alarms: one Metrics Insights query over every series of the resource, whatever other
# dimensions the service adds (stacks/metric_queries.py). Alarm -> (query with the ARN as @@, ARN pattern).
AGENTCORE = 'FROM "AWS/Bedrock-AgentCore" WHERE Resource = '
EXPECTED_QUERIES = {
    "RuntimeSystemErrors": (f"SELECT SUM(SystemErrors) {AGENTCORE}'@@'", "dev-Runtime:*AgentRuntimeArn*"),
    "RuntimeThrottles": (f"SELECT SUM(Throttles) {AGENTCORE}'@@'", "dev-Runtime:*AgentRuntimeArn*"),
    "GatewaySystemErrors": (f"SELECT SUM(SystemErrors) {AGENTCORE}'@@'", "dev-Gateway:*GatewayArn*"),
    "MemoryErrors": (f"SELECT SUM(Errors) {AGENTCORE}'@@'", "dev-Memory:*MemoryArn*"),
}


def query_of(properties) -> tuple[str, list[str]]:
    """An alarm's single Metrics Insights query, its intrinsics as @@, and what they name."""
    (query,) = properties["Metrics"]
    assert query["ReturnData"] is True and "MetricStat" not in query
    tokens: list = []
    text = TOKEN.sub("@@", _resolve_join(query["Expression"], tokens))
    return text, [_dimension_value(token) for token in tokens]


def _dimension_value(value) -> str:
    if isinstance(value, str):
        return value
    output = value["Fn::GetStackOutput"]
    return f"{output['StackName']}:{output['OutputName']}"


def _alarm_metrics(properties) -> list[tuple[str, str, str, dict[str, str]]]:
    """(namespace, metric, statistic, dimensions) of a single-metric alarm or of each metric in its math."""
    if "MetricName" in properties:
        stat = properties.get("Statistic") or properties["ExtendedStatistic"]
        metrics = [(properties["Namespace"], properties["MetricName"], stat, properties["Dimensions"])]
    else:
        metrics = [
            (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
             m["MetricStat"]["Stat"], m["MetricStat"]["Metric"]["Dimensions"])
            for m in properties["Metrics"] if "MetricStat" in m
        ]  # fmt: skip
    return [
        (namespace, name, stat, {d["Name"]: _dimension_value(d["Value"]) for d in dims})
        for namespace, name, stat, dims in metrics
    ]


def test_every_alarm_watches_exactly_the_metric_aws_documents(dev):
    alarms = {
        next(n for n in {**EXPECTED_ALARMS, **EXPECTED_QUERIES} if logical_id.startswith(n)): alarm[
            "Properties"
        ]
        for logical_id, alarm in dev.find_resources("AWS::CloudWatch::Alarm").items()
    }
    assert set(alarms) == set(EXPECTED_ALARMS) | set(EXPECTED_QUERIES)
    for name, (expected_query, arn) in EXPECTED_QUERIES.items():
        properties = alarms.pop(name)
        query, names = query_of(properties)
        assert query == expected_query, name
        assert len(names) == 1 and fnmatch.fnmatchcase(names[0], arn), f"{name}: {names}"
        assert properties["Metrics"][0]["Period"] == 300, name
        assert properties["Threshold"] == 1 and properties["EvaluationPeriods"] == 1, name
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
    for name, properties in alarms.items():
        found = _alarm_metrics(properties)
        expected = EXPECTED_ALARMS[name]
        assert len(found) == len(expected), name
        for (namespace, metric, stat, dims), (e_namespace, e_metric, e_stat, e_dims) in zip(
            found, expected, strict=True
        ):
            assert (namespace, metric, stat) == (e_namespace, e_metric, e_stat), name
            assert set(dims) == set(e_dims), f"{name}: dimension set {sorted(dims)}"
            for key, pattern in e_dims.items():
                assert fnmatch.fnmatchcase(dims[key], pattern), f"{name}: {key}={dims[key]}"


def test_gateway_widgets_use_the_documented_dimension_set_too(dev):
    body, tokens = _dashboard(dev)
    gateway = [
        (name, dims)
        for namespace, name, dims in _metrics(body)
        if namespace == "AWS/Bedrock-AgentCore"
        and '"dev-Gateway"' in json.dumps(tokens[int(TOKEN.search(dims["Resource"])[1])])
    ]
    names = {name for name, _ in gateway}
    assert names == {
        "Invocations",
        "Latency",
        "TargetExecutionTime",
        "SystemErrors",
        "UserErrors",
        "Throttles",
    }
    assert all(set(dims) == {"Resource"} for _, dims in gateway)


@pytest.mark.parametrize(
    ("stack", "log_types"),
    [
        ("Runtime", {"APPLICATION_LOGS", "USAGE_LOGS", "TRACES"}),
        ("Gateway", {"APPLICATION_LOGS", "TRACES"}),
        ("Memory", {"APPLICATION_LOGS", "TRACES"}),
    ],
)
def test_each_agentcore_resource_delivers_logs_and_traces(synthesized, stack, log_types):
    template = synthesized.template("dev", stack)
    sources = template.find_resources("AWS::Logs::DeliverySource")
    assert {s["Properties"]["LogType"] for s in sources.values()} == log_types
    kind = {"Runtime": "Runtime", "Gateway": "Gateway", "Memory": "Memory"}[stack]
    for source in sources.values():
        assert kind in json.dumps(source["Properties"]["ResourceArn"])
    destinations = template.find_resources("AWS::Logs::DeliveryDestination")
    assert {d["Properties"]["DeliveryDestinationType"] for d in destinations.values()} == {"CWL", "XRAY"}
    assert len(template.find_resources("AWS::Logs::Delivery")) == len(log_types)
    groups = [g["Properties"] for g in template.find_resources("AWS::Logs::LogGroup").values()]
    vended = [
        g for g in groups if str(g.get("LogGroupName", "")).startswith("/aws/vendedlogs/bedrock-agentcore/")
    ]
    assert len(vended) == 1 and "KmsKeyId" in vended[0]
    assert vended[0]["RetentionInDays"] == synthesized.stages["dev"].config.log_retention_days
    assert template.find_resources("AWS::Logs::ResourcePolicy") == {}, (
        "per-stack Logs policies exhaust the quota"
    )


def test_account_resources_exist_exactly_once_across_all_stages(synthesized):
    counts = {"Custom::TransactionSearch": 0, "AWS::XRay::ResourcePolicy": 0}
    for _, _, path in synthesized.all_templates():
        for resource in json.loads(path.read_text())["Resources"].values():
            if resource["Type"] in counts:
                counts[resource["Type"]] += 1
            # `adopt` (the default) owns no CloudFormation configuration that could fail or be deleted
            assert resource["Type"] not in {"AWS::XRay::TransactionSearchConfig", "AWS::Logs::ResourcePolicy"}
    assert counts == dict.fromkeys(counts, 1)
    owners = [name for name, stage in synthesized.stages.items() if stage.account_resources is not None]
    assert owners == ["dev"]


def test_trace_deliveries_wait_for_the_account_xray_policy(synthesized):
    stage = synthesized.stages["dev"]
    for stack in (stage.gateway, stage.memory, stage.runtime):
        assert stage.account_resources in stack.dependencies, stack.stack_name


def test_transaction_search_policy_is_scoped_to_spans_and_this_account(synthesized):
    template = synthesized.template("dev", "Account")
    (search,) = template.find_resources("Custom::TransactionSearch").values()
    properties = search["Properties"]
    assert properties["IndexingPercentage"] == str(
        synthesized.stages["dev"].config.transaction_search_percent
    )
    document = json.dumps(properties["LogsPolicyDocument"])
    assert "aws/spans" in document and "xray.amazonaws.com" in document and "aws:SourceAccount" in document
    (xray_policy,) = template.find_resources("AWS::XRay::ResourcePolicy").values()
    document = json.dumps(xray_policy["Properties"]["PolicyDocument"])
    assert "delivery.logs.amazonaws.com" in document and "bedrock-agentcore" in document


def test_alarm_email_subscribes_when_configured(tmp_path):
    from app import build_app, new_app

    context = copy.deepcopy(cdk_context())
    context["agentcore:stages"] = {
        "dev": {**context["agentcore:stages"]["dev"], "alarm_email": "ops@example.com"}
    }
    app = new_app(context=context, outdir=str(tmp_path))
    (stage,) = build_app(app)
    artifact = stage.synth().get_stack_by_name("dev-Observability")
    resources = artifact.template["Resources"].values()
    (subscription,) = [r for r in resources if r["Type"] == "AWS::SNS::Subscription"]
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"
