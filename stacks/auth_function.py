"""A small, dependency-free Lambda function of the authorization path (pre-token trigger, interceptor).

Built like every function of this app (stacks/python_function.py: own role and encrypted log group, arm64),
standard library only, with a 5-second timeout and X-Ray tracing off: it runs in the request path of
Cognito or the gateway, whose own traces and logs cover the call. Its cdk-nag findings are acknowledged
here, beside the construct that causes them.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks import compliance
from stacks.config import StageConfig
from stacks.python_function import python_function


def auth_function(
    scope: Construct,
    construct_id: str,
    *,
    config: StageConfig,
    source: str,
    caller: str,
    description: str,
    logs_key: kms.IKey,
    environment: Mapping[str, str],
) -> lambda_.Function:
    """`lambdas/<source>/handler.py` as a function that `caller` (a service) invokes synchronously."""
    function = python_function(
        scope,
        construct_id,
        config=config,
        source=source,
        description=description,
        logs_key=logs_key,
        timeout=cdk.Duration.seconds(5),
        environment=environment,
    )
    _acknowledge(function, caller)
    return function


def _acknowledge(function: lambda_.Function, caller: str) -> None:
    resource = function.node.default_child
    reasons = {
        "AwsSolutions-L1": (
            "Pinned to python3.13 like every function of this app, so one runtime is patched and tested; "
            "bump python_function.RUNTIME."
        ),
        "Serverless-LambdaLatestVersion": (
            f"{caller} invokes the function's current code; each deploy replaces the configuration that "
            "points at it, so versions or aliases would add nothing."
        ),
        "Serverless-LambdaDLQ": f"{caller} invokes it synchronously and handles a failure itself.",
        "NIST.800.53.R5-LambdaDLQ": f"{caller} invokes it synchronously and handles a failure itself.",
        "Serverless-LambdaTracing": (
            f"Runs inside {caller}'s request path, whose own logs and traces cover the call; tracing would "
            "add a daemon hop to every request."
        ),
        "NIST.800.53.R5-LambdaConcurrency": (
            f"Bounded by {caller}'s own request rate; reserving concurrency would take it from the account's "
            "shared pool."
        ),
        "NIST.800.53.R5-LambdaInsideVPC": "Reads only its event and environment; it makes no network call.",
    }
    for rule, reason in reasons.items():
        compliance.acknowledge(resource, rule, reason)
    compliance.acknowledge_policy(function.role)
