"""Deploy-time failures found by reviewing the templates against AWS's documentation (issue 12)."""

from __future__ import annotations

import copy
import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import new_app
from stacks.account_stack import AccountStack
from stacks.config import ConfigError, load_stages
from stacks.gateway_stack import GATEWAY_KEY_ACTIONS
from tests.conftest import cdk_context


def _resources(template: Template, kind: str) -> dict:
    return template.find_resources(kind)


def _statements(document: dict) -> list[dict]:
    return document["Statement"]


def test_gateway_role_may_use_its_key_as_aws_documents_before_the_gateway_is_created(synthesized):
    template = synthesized.template("dev", "Gateway")
    (gateway,) = _resources(template, "AWS::BedrockAgentCore::Gateway").values()
    key_id = gateway["Properties"]["KmsKeyArn"]["Fn::GetAtt"][0]
    role_id = gateway["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    policies = {
        name: policy
        for name, policy in _resources(template, "AWS::IAM::Policy").items()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    }
    ((policy_id, policy),) = policies.items()
    granted = {
        action
        for statement in _statements(policy["Properties"]["PolicyDocument"])
        if statement["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert set(GATEWAY_KEY_ACTIONS) <= granted
    assert {"kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"} <= granted
    assert policy_id in gateway.get("DependsOn", [])


def test_runtime_log_and_trace_deliveries_are_created_one_after_another(synthesized):
    template = synthesized.template("dev", "Runtime")
    deliveries = _resources(template, "AWS::Logs::Delivery")
    assert len(deliveries) == 3  # traces, application logs, usage logs

    def before(name: str) -> set[str]:
        direct = {d for d in deliveries[name].get("DependsOn", []) if d in deliveries}
        return direct | {x for d in direct for x in before(d)}

    # A total order: every pair of deliveries is ordered one way or the other.
    for a in deliveries:
        for b in deliveries:
            if a != b:
                assert a in before(b) or b in before(a), f"{a} and {b} may be created in parallel"


def test_only_this_accounts_alarms_may_publish_to_the_alarm_topic_and_use_its_key(synthesized):
    template = synthesized.template("dev", "Observability")
    expected_source_arn = "arn:aws:cloudwatch:us-east-1:{Ref: AWS::AccountId}:alarm:*"
    topic_statements = [
        s
        for policy in _resources(template, "AWS::SNS::TopicPolicy").values()
        for s in _statements(policy["Properties"]["PolicyDocument"])
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    key_statements = [
        s
        for key in _resources(template, "AWS::KMS::Key").values()
        for s in _statements(key["Properties"]["KeyPolicy"])
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    (publish,) = topic_statements
    assert publish["Action"] == "sns:Publish"
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert len(key_statements) == 1
    for statement in (publish, *key_statements):
        condition = statement["Condition"]
        assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        source_arn = json.dumps(condition["ArnLike"]["aws:SourceArn"])
        assert ":cloudwatch:us-east-1:" in source_arn and ":alarm:*" in source_arn, expected_source_arn


def _account_template(mode: str | None) -> Template:
    context = copy.deepcopy(cdk_context())
    if mode is not None:
        context["agentcore:stages"]["dev"]["transaction_search"] = mode
    config = load_stages(context)[0]
    app = new_app(context=context)  # the feature flags of cdk.json, as `cdk synth` reads them
    stack = AccountStack(app, "Account", config=config, env=cdk.Environment(region=config.region))
    return Template.from_stack(stack)


def _policy_actions(template: Template, role_prefix: str) -> set[str]:
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"][0]["Ref"].startswith(role_prefix)
    ]
    return {
        action
        for s in policy["Statement"]
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }


def test_transaction_search_is_adopted_by_default():
    """`adopt`: a custom resource instead of CloudFormation's own configuration, which fails AlreadyExists."""
    template = _account_template(None)
    template.resource_count_is("AWS::XRay::TransactionSearchConfig", 0)
    template.resource_count_is("AWS::Logs::ResourcePolicy", 0)  # the handler puts it, and never deletes it
    (search,) = template.find_resources("Custom::TransactionSearch").values()
    properties = search["Properties"]
    assert properties["IndexingPercentage"] == "1"
    assert properties["LogsPolicyName"] == "agentcore-transaction-search"
    assert "aws/spans" in json.dumps(properties["LogsPolicyDocument"])
    handlers = [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "handler.lambda_handler"
    ]
    assert len(handlers) == 1 and handlers[0]["Runtime"].startswith("python3")
    assert {
        "xray:GetTraceSegmentDestination",
        "xray:UpdateTraceSegmentDestination",
        "xray:UpdateIndexingRule",
        "logs:PutResourcePolicy",
    } <= _policy_actions(template, "TransactionSearchHandlerRole")
    framework = _policy_actions(template, "TransactionSearchProviderframeworkonEventServiceRole")
    assert "lambda:InvokeFunction" in framework
    assert framework <= {"lambda:InvokeFunction", "lambda:GetFunction"}
    assert template.to_json()["Outputs"]["TransactionSearchStatus"]["Value"] == {
        "Fn::GetAtt": ["TransactionSearchOn", "Outcome"]
    }


def test_create_keeps_cloudformations_own_configuration_under_its_deployed_ids():
    """A new logical id would replace a deployed configuration, and the new one would fail AlreadyExists."""
    template = _account_template("create")
    resources = template.to_json()["Resources"]
    assert resources["TransactionSearch"]["Type"] == "AWS::XRay::TransactionSearchConfig"
    assert resources["TransactionSearch"]["DependsOn"] == ["TransactionSearchLogsPolicy"]
    assert resources["TransactionSearchLogsPolicy"]["Type"] == "AWS::Logs::ResourcePolicy"
    template.resource_count_is("Custom::TransactionSearch", 0)
    template.resource_count_is("AWS::Lambda::Function", 0)


def test_the_spans_policy_is_the_same_in_both_modes():
    (search,) = _account_template("adopt").find_resources("Custom::TransactionSearch").values()
    (policy,) = _account_template("create").find_resources("AWS::Logs::ResourcePolicy").values()
    assert search["Properties"]["LogsPolicyDocument"] == policy["Properties"]["PolicyDocument"]


def test_an_account_with_transaction_search_already_on_keeps_it():
    """`existing` creates nothing CloudFormation would fail on (AlreadyExists) or later delete."""
    template = _account_template("existing")
    template.resource_count_is("AWS::XRay::TransactionSearchConfig", 0)
    template.resource_count_is("Custom::TransactionSearch", 0)
    template.resource_count_is("AWS::Logs::ResourcePolicy", 0)
    template.resource_count_is("AWS::XRay::ResourcePolicy", 1)  # trace delivery is still this app's


def test_transaction_search_mode_is_validated():
    context = copy.deepcopy(cdk_context())
    context["agentcore:stages"]["dev"]["transaction_search"] = "enable"
    with pytest.raises(ConfigError, match="key 'transaction_search': must be one of adopt, create, existing"):
        load_stages(context)


@pytest.mark.parametrize("value", [None, [], "dev", 3])
def test_a_stage_that_is_not_an_object_is_a_config_error(value):
    context = copy.deepcopy(cdk_context())
    context["agentcore:stages"]["prod"] = value
    with pytest.raises(ConfigError, match="stage 'prod': expected an object of settings"):
        load_stages(context)


def test_an_unknown_key_suggests_the_key_that_was_meant():
    context = copy.deepcopy(cdk_context())
    context["agentcore:stages"]["dev"]["log_retention_day"] = 7
    with pytest.raises(
        ConfigError, match=r"key 'log_retention_day': unknown key \(did you mean 'log_retention_days'\?\)"
    ):
        load_stages(context)
