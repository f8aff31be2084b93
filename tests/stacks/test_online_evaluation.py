"""Online evaluation (AgentCore Evaluations) per stage: the configuration reads this stage's runtime with the
configured built-in evaluators and sampling, its role has exactly the L2's grants, results stay in a KMS log
group of the stage, and one alarm per evaluator watches its score on the stage's alarm topic."""

from __future__ import annotations

import json
import re

import pytest

from stacks.config import SAFETY_EVALUATORS, SCORED_EVALUATORS
from stacks.online_evaluation import BUILTIN, SCORE_NAMESPACE
from tests.stacks.conftest import VARIANT_OPTIONS

CONFIG_TYPE = "AWS::BedrockAgentCore::OnlineEvaluationConfig"


def _one(template, resource_type):
    (found,) = template.find_resources(resource_type).items()
    return found


def _live_configs(template) -> dict[str, dict]:
    """The live endpoint's evaluation configurations (a stage with a canary also has the canary's, tested in
    tests/stacks/test_canary.py)."""
    template = template if isinstance(template, dict) else template.to_json()
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == CONFIG_TYPE and not logical_id.startswith("CanaryEvaluation")
    }


def _live_config(template):
    (found,) = _live_configs(template).items()
    return found


def _runtime_environment(runtime):
    (_, resource) = _one(runtime, "AWS::BedrockAgentCore::Runtime")
    return resource["Properties"]["EnvironmentVariables"]


def _results_group(template):
    """(logical id, resource) of the log group the evaluation results go to."""
    (found,) = [
        (logical_id, resource)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
        and "/aws/bedrock-agentcore/evaluations/" in json.dumps(resource["Properties"].get("LogGroupName"))
        and not logical_id.startswith("CanaryEvaluation")
    ]
    return found


SCORE_QUERY = re.compile(
    r'^SELECT AVG\("(?P<evaluator>[^"]+)"\) FROM "(?P<namespace>[^"]+)" '
    r"WHERE onlineEvaluationConfigId = '@@'$"
)


def _score_query(alarm) -> tuple[str, str, dict]:
    """(evaluator, namespace, the config id's intrinsic) of a score alarm's Metrics Insights query."""
    (query,) = alarm["Metrics"]
    separator, parts = query["Expression"]["Fn::Join"]
    tokens = [part for part in parts if not isinstance(part, str)]
    text = separator.join(part if isinstance(part, str) else "@@" for part in parts)
    match = SCORE_QUERY.match(text)
    assert match and len(tokens) == 1, text
    return match["evaluator"], match["namespace"], tokens[0]


def _score_alarms(observability):
    """Score alarms by evaluator: those whose query reads the evaluations namespace."""
    alarms = {}
    template = observability if isinstance(observability, dict) else observability.to_json()
    for resource in template["Resources"].values():
        properties = resource["Properties"]
        if (
            resource["Type"] == "AWS::CloudWatch::Alarm"
            and SCORE_NAMESPACE in json.dumps(properties)
            and "-canary-" not in properties["AlarmName"]
        ):
            alarms[_score_query(properties)[0]] = properties
    return alarms


@pytest.fixture(scope="module")
def staging(synthesized):
    config = synthesized.stages["staging"].config
    return (
        config,
        synthesized.template("staging", "Runtime"),
        synthesized.template("staging", "Observability"),
    )


def test_the_shipped_stages_evaluate_staging_only(synthesized):
    for stage in ("dev", "staging", "prod"):
        configs = _live_configs(synthesized.template(stage, "Runtime"))
        assert len(configs) == (stage == "staging"), stage
        assert bool(_score_alarms(synthesized.template(stage, "Observability"))) == (stage == "staging")
    assert synthesized.stages["staging"].config.trace_content  # the judges need the prompts and answers


def test_the_configuration_reads_this_stages_runtime_with_the_configured_evaluators(staging):
    config, runtime, _ = staging
    (_, resource) = _live_config(runtime)
    props = resource["Properties"]
    assert props["OnlineEvaluationConfigName"] == "agentcore_staging_evaluation"
    assert [e["EvaluatorId"] for e in props["Evaluators"]] == list(config.online_evaluators)
    assert props["Rule"] == {
        "SamplingConfig": {"SamplingPercentage": config.online_evaluation_percent},
        "SessionConfig": {"SessionTimeoutMinutes": config.idle_timeout_seconds // 60},
    }
    assert props["ExecutionStatus"] == "ENABLED"
    (runtime_id,) = runtime.find_resources("AWS::BedrockAgentCore::Runtime")
    source = props["DataSourceConfig"]["CloudWatchLogs"]
    # The endpoint clients call, and the service name the agent's spans carry.
    assert source["LogGroupNames"] == [
        {"Fn::Join": ["", ["/aws/bedrock-agentcore/runtimes/", {"Fn::GetAtt": [runtime_id, "AgentRuntimeId"]},
                           f"-{config.endpoint_name}"]]}
    ]  # fmt: skip
    assert source["ServiceNames"] == [_runtime_environment(runtime)["OTEL_SERVICE_NAME"]]
    (endpoint_id,) = runtime.find_resources(
        "AWS::BedrockAgentCore::RuntimeEndpoint", {"Properties": {"Name": config.endpoint_name}}
    )
    assert endpoint_id in resource["DependsOn"]


def test_results_go_to_a_kms_encrypted_log_group_of_the_stage_with_its_retention(staging):
    config, runtime, _ = staging
    (_, resource) = _live_config(runtime)
    group_id, group = _results_group(runtime.to_json())
    assert (
        group["Properties"]["LogGroupName"]
        == "/aws/bedrock-agentcore/evaluations/results/agentcore-staging-agent"
    )
    assert resource["Properties"]["OutputConfig"] == {"CloudWatchConfig": {"LogGroupName": {"Ref": group_id}}}
    assert group["Properties"]["RetentionInDays"] == config.log_retention_days
    assert "Fn::GetAtt" in group["Properties"]["KmsKeyId"]
    assert group["DeletionPolicy"] == "Delete"  # staging is not retained; prod's is (variant test)


def test_the_execution_role_has_exactly_the_l2_grants_and_trusts_only_this_accounts_evaluations(staging):
    _, runtime, _ = staging
    (_, resource) = _live_config(runtime)
    role_id = resource["Properties"]["EvaluationExecutionRoleArn"]["Fn::GetAtt"][0]
    role = runtime.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock-agentcore.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"},
        "aws:ResourceAccount": {"Ref": "AWS::AccountId"},
    }
    assert [json.dumps(arn).split(":")[-1] for arn in trust["Condition"]["ArnLike"]["aws:SourceArn"]] == [
        'evaluator/*"]]}',
        'online-evaluation-config/*"]]}',
    ]
    (policy,) = [
        p["Properties"]
        for p in runtime.find_resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    granted = {
        s["Sid"]: (sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]]), s["Effect"])
        for s in policy["PolicyDocument"]["Statement"]
    }
    assert granted == {
        "CloudWatchLogDescribeStatement": (["logs:DescribeLogGroups"], "Allow"),
        "CloudWatchLogQueryStatement": (["logs:GetQueryResults", "logs:StartQuery"], "Allow"),
        "CloudWatchLogWriteStatement": (
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Allow",
        ),
        "CloudWatchIndexPolicyStatement": (["logs:DescribeIndexPolicies", "logs:PutIndexPolicy"], "Allow"),
        "BedrockInvokeStatement": (["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"], "Allow"),
    }
    statements = {s["Sid"]: json.dumps(s["Resource"]) for s in policy["PolicyDocument"]["Statement"]}
    assert "/aws/bedrock-agentcore/runtimes/" in statements["CloudWatchLogQueryStatement"]
    assert "log-group:aws/spans" in statements["CloudWatchLogQueryStatement"]
    assert "log-group:/aws/bedrock-agentcore/evaluations/*" in statements["CloudWatchLogWriteStatement"]


def test_one_alarm_per_evaluator_watches_its_score_on_the_alarm_topic(staging):
    config, _, observability = staging
    (topic_id, _) = _one(observability, "AWS::SNS::Topic")
    alarms = _score_alarms(observability)
    assert sorted(alarms) == sorted(config.online_evaluators)
    for evaluator, alarm in alarms.items():
        _, namespace, token = _score_query(alarm)
        assert namespace == SCORE_NAMESPACE
        config_id = token["Fn::GetStackOutput"]
        assert (
            config_id["StackName"] == "staging-Runtime"
            and "OnlineEvaluationConfigId" in config_id["OutputName"]
        )
        assert alarm["Metrics"][0]["Period"] == 3600 and "Dimensions" not in alarm
        assert alarm["Threshold"] == config.online_evaluation_min_score
        assert alarm["ComparisonOperator"] == "LessThanThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": topic_id}]
        assert alarm["AlarmName"] == f"agentcore-staging-{evaluator.removeprefix('Builtin.')}Score"


def test_the_dashboard_draws_the_scores_against_the_threshold(staging):
    config, _, observability = staging
    (_, dashboard) = _one(observability, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "Quality: online evaluation scores" in body
    assert all(f'\\"{evaluator}\\"' in body for evaluator in config.online_evaluators)
    assert f'\\"value\\":{config.online_evaluation_min_score}' in body


def test_a_stages_own_evaluators_sampling_and_threshold_reach_the_templates(variant):
    options = VARIANT_OPTIONS["prod"]
    runtime = variant.template("prod", "Runtime")
    (config,) = [r["Properties"] for r in _live_configs(runtime).values()]
    assert [e["EvaluatorId"] for e in config["Evaluators"]] == options["online_evaluators"]
    assert config["Rule"]["SamplingConfig"] == {"SamplingPercentage": options["online_evaluation_percent"]}
    _, group = _results_group(runtime)
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"  # prod keeps its results
    alarms = _score_alarms(variant.template("prod", "Observability"))
    assert sorted(alarms) == sorted(options["online_evaluators"])
    assert {a["Threshold"] for a in alarms.values()} == {options["online_evaluation_min_score"]}


def test_every_l2_built_in_evaluator_is_either_scored_or_refused_as_a_safety_evaluator():
    assert set(SCORED_EVALUATORS) | set(SAFETY_EVALUATORS) == set(BUILTIN)
    assert not set(SCORED_EVALUATORS) & set(SAFETY_EVALUATORS)
