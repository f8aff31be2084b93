"""X-Ray Transaction Search for the account stack, in the mode the stage's `transaction_search` chooses.

- `adopt` (default): a custom resource (CDK Provider framework, `lambdas/transaction_search`) that keeps
  the account's configuration when Transaction Search is on already and turns it on otherwise (Logs policy,
  CloudWatchLogs destination, indexing percentage); it never fails AlreadyExists and never disables
  anything on delete.
- `create`: CloudFormation's own `AWS::XRay::TransactionSearchConfig` and Logs resource policy: fails
  AlreadyExists where Transaction Search is on, and turns it off when the stack is deleted.
- `existing`: nothing; the account's own configuration is used as it is.

Both active modes give X-Ray the Logs resource policy AWS documents for writing spans to `aws/spans` (and
the Application Signals group), for this account's X-Ray only. Resource ids are fixed: changing them would
replace a deployed `create` configuration (and fail AlreadyExists).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_xray as xray
from aws_cdk import custom_resources as cr

from stacks import compliance
from stacks.config import StageConfig
from stacks.encrypted_logs import logs_key
from stacks.python_function import python_function
from stacks.service_policies import account_arn, service_policy

SPAN_LOG_GROUPS = ("aws/spans", "/aws/application-signals/data")
RESOURCE_TYPE = "Custom::TransactionSearch"
HANDLER_FINDINGS = {
    "AwsSolutions-L1": (
        "Pinned to python3.13 like every function of this app, so one runtime is patched and tested; bump "
        "python_function.RUNTIME."
    ),
    "Serverless-LambdaLatestVersion": (
        "Invoked only by the Provider framework during deploys, which always calls the current code."
    ),
    "Serverless-LambdaDLQ": "Invoked synchronously by the Provider framework, which reports failures.",
    "NIST.800.53.R5-LambdaDLQ": "Invoked synchronously by the Provider framework, which reports failures.",
    "Serverless-LambdaTracing": "Deploy-time custom resource handler; CloudFormation events trace it.",
    "NIST.800.53.R5-LambdaConcurrency": "Runs only while this stack deploys, bounded by CloudFormation.",
    "NIST.800.53.R5-LambdaInsideVPC": "Calls only the X-Ray and CloudWatch Logs control planes.",
}


def add(stack: cdk.Stack, config: StageConfig) -> str:
    """Transaction Search in the configured mode; returns what the stack's output reports."""
    if config.transaction_search == "create":
        _create(stack, config)
        return f"created ({config.transaction_search_percent}% indexed)"
    if config.transaction_search == "adopt":
        return _adopt(stack, config).get_att_string("Outcome")
    return "existing"


def _spans_policy(stack: cdk.Stack) -> str:
    """The Logs resource policy AWS documents for Transaction Search, for this account's X-Ray only."""
    return service_policy(
        stack,
        sid="TransactionSearchXRayAccess",
        service="xray.amazonaws.com",
        action="logs:PutLogEvents",
        resource=[_log_group_arn(stack, name) for name in SPAN_LOG_GROUPS],
        source_arn=account_arn(stack, "xray", "*"),
    )


def _policy_name(config: StageConfig) -> str:
    return f"{config.project}-transaction-search"


def _create(stack: cdk.Stack, config: StageConfig) -> None:
    spans_policy = logs.CfnResourcePolicy(
        stack,
        "TransactionSearchLogsPolicy",
        policy_name=_policy_name(config),
        policy_document=_spans_policy(stack),
    )
    search = xray.CfnTransactionSearchConfig(
        stack, "TransactionSearch", indexing_percentage=config.transaction_search_percent
    )
    search.add_resource_dependency(spans_policy)


def _adopt(stack: cdk.Stack, config: StageConfig) -> cdk.CustomResource:
    handler = python_function(
        stack,
        "TransactionSearchHandler",
        config=config,
        source="transaction_search",
        description="adopts X-Ray Transaction Search, or turns it on (custom resource; never turns it off)",
        logs_key=logs_key(stack, "LogsKey", config, "Transaction Search handler logs"),
        timeout=cdk.Duration.minutes(1),
    )
    for statement in _enabling_permissions(stack):
        handler.add_to_role_policy(statement)
    compliance.acknowledge_all(handler.node.default_child, HANDLER_FINDINGS)
    compliance.acknowledge_policy(handler.role)
    provider = cr.Provider(stack, "TransactionSearchProvider", on_event_handler=handler)
    compliance.acknowledge_provider_function(compliance.at(provider, "framework-onEvent"))
    return cdk.CustomResource(
        stack,
        "TransactionSearchOn",
        service_token=provider.service_token,
        resource_type=RESOURCE_TYPE,
        properties={
            "IndexingPercentage": str(config.transaction_search_percent),
            "LogsPolicyName": _policy_name(config),
            "LogsPolicyDocument": _spans_policy(stack),
        },
    )


def _enabling_permissions(stack: cdk.Stack) -> list[iam.PolicyStatement]:
    """What AWS lists for the principal that enables Transaction Search (Enable-TransactionSearch.html,
    Prerequisites), scoped to this account and region where the action has resources. The handler itself
    calls the X-Ray actions and logs:PutResourcePolicy; the rest is what enabling needs of its caller."""
    signals_role = (
        f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/"
        "application-signals.cloudwatch.amazonaws.com/AWSServiceRoleForCloudWatchApplicationSignals"
    )
    return [
        iam.PolicyStatement(
            actions=[
                "xray:GetTraceSegmentDestination",
                "xray:UpdateTraceSegmentDestination",
                "xray:GetIndexingRules",
                "xray:UpdateIndexingRule",
            ],
            resources=["*"],  # account settings: no resource types (Service Authorization Reference)
        ),
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutRetentionPolicy"],
            resources=[_log_group_arn(stack, name) for name in SPAN_LOG_GROUPS],
        ),
        iam.PolicyStatement(
            actions=["logs:PutResourcePolicy", "logs:DescribeResourcePolicies"],
            resources=["*"],  # no resource types
        ),
        iam.PolicyStatement(actions=["application-signals:StartDiscovery"], resources=["*"]),
        iam.PolicyStatement(
            actions=["iam:CreateServiceLinkedRole"],
            resources=[signals_role],
            conditions={"StringLike": {"iam:AWSServiceName": "application-signals.cloudwatch.amazonaws.com"}},
        ),
        iam.PolicyStatement(actions=["iam:GetRole"], resources=[signals_role]),
        iam.PolicyStatement(
            actions=["cloudtrail:CreateServiceLinkedChannel"],
            resources=[account_arn(stack, "cloudtrail", "channel/aws-service-channel/application-signals/*")],
        ),
    ]


def _log_group_arn(stack: cdk.Stack, name: str) -> str:
    return account_arn(stack, "logs", f"log-group:{name}:*")
