"""CloudWatch log groups encrypted with a stage key and kept for the stage's retention."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import LOG_RETENTION_DAYS, StageConfig
from stacks.encryption import removal_policy, stage_key

# CloudWatch's retention choices as CDK names them, in the same order as the config's allowed days.
RETENTION = dict(
    zip(
        LOG_RETENTION_DAYS,
        (
            "ONE_DAY", "THREE_DAYS", "FIVE_DAYS", "ONE_WEEK", "TWO_WEEKS", "ONE_MONTH", "TWO_MONTHS",
            "THREE_MONTHS", "FOUR_MONTHS", "FIVE_MONTHS", "SIX_MONTHS", "ONE_YEAR", "THIRTEEN_MONTHS",
            "EIGHTEEN_MONTHS", "TWO_YEARS", "THREE_YEARS", "FIVE_YEARS", "SIX_YEARS", "SEVEN_YEARS",
            "EIGHT_YEARS", "NINE_YEARS", "TEN_YEARS",
        ),
        strict=True,
    )
)  # fmt: skip


def retention(config: StageConfig) -> logs.RetentionDays:
    """The stage's log retention as the CDK enum."""
    return getattr(logs.RetentionDays, RETENTION[config.log_retention_days])


def logs_key(scope: Construct, construct_id: str, config: StageConfig, purpose: str) -> kms.Key:
    """A rotating key CloudWatch Logs may use for this account's log groups in this region."""
    stack = cdk.Stack.of(scope)
    key = stage_key(scope, construct_id, config, purpose)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                     "kms:Describe*"],
            resources=["*"],  # a key policy's resource is always the key itself
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs", resource="log-group", resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )  # fmt: skip
    return key


def encrypted_log_group(
    scope: Construct, construct_id: str, config: StageConfig, key: kms.IKey, name: str | None = None
) -> logs.LogGroup:
    """A log group with the stage's retention, encrypted with `key`, retained with the stage's data."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=retention(config),
        encryption_key=key,
        removal_policy=removal_policy(config),
    )
