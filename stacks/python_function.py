"""One of this app's Python Lambda functions, built the same way everywhere: `lambdas/<source>/handler.py`.

Each function gets its own role (only its own encrypted log group to start with; callers add what the
handler needs, no managed policy), arm64, and one Python runtime for every function, so one runtime is
patched and tested. The tool functions' Powertools layer is published per runtime: bump RUNTIME with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.config import StageConfig
from stacks.encrypted_logs import encrypted_log_group
from stacks.tool_schema import LAMBDAS

RUNTIME = lambda_.Runtime.PYTHON_3_13


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    config: StageConfig,
    source: str,
    description: str,
    logs_key: kms.IKey,
    timeout: cdk.Duration,
    environment: Mapping[str, str] | None = None,
    layers: Sequence[lambda_.ILayerVersion] = (),
    tracing: lambda_.Tracing | None = None,
    exclude: Sequence[str] = (),
) -> lambda_.Function:
    """The function `construct_id` (role `<id>Role`, log group `<id>Logs`) running `lambdas/<source>/`."""
    log_group = encrypted_log_group(scope, f"{construct_id}Logs", config, logs_key)
    role = iam.Role(scope, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    log_group.grant_write(role)
    return lambda_.Function(
        scope,
        construct_id,
        role=role,
        description=f"{config.name}: {description}",
        runtime=RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        handler="handler.lambda_handler",
        code=lambda_.Code.from_asset(str(LAMBDAS / source), exclude=[*exclude, "**/__pycache__"]),
        layers=list(layers) or None,
        memory_size=256,
        timeout=timeout,
        tracing=tracing,
        log_group=log_group,
        environment=dict(environment or {}),
    )
