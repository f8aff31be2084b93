"""Where the stage's Browser records its sessions (`browser_recording: true`): an S3 bucket of the stage.

Recordings show every page the agent saw, so the bucket is locked down like the stage's other data: KMS
(a stage key), TLS only, no public access, objects expire after the stage's log retention, RETAIN in a
retained stage (prod). In other stages the bucket is emptied and deleted with its stack (CDK's auto-delete
handler), so `cdk destroy` of a dev stage never fails on leftover recordings. The Browser's execution role
(created by the L2) may only write recordings under RECORDINGS_PREFIX.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import compliance
from stacks.config import StageConfig
from stacks.encryption import removal_policy, stage_key

RECORDINGS_PREFIX = "browser-recordings/"


def recording_bucket(scope: Construct, config: StageConfig) -> s3.Bucket | None:
    """The recordings bucket (with its own stage key) when the stage records browser sessions, else None."""
    if not config.browser_recording:
        return None
    key = stage_key(scope, "BrowserRecordingsKey", config, "browser recordings at rest")
    bucket = s3.Bucket(
        scope,
        "BrowserRecordings",
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=config.is_retained,
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=cdk.Duration.days(config.log_retention_days),
                noncurrent_version_expiration=cdk.Duration.days(1) if config.is_retained else None,
                abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
            )
        ],
        removal_policy=removal_policy(config),
        auto_delete_objects=not config.is_retained,
    )
    for rule, reason in {
        "AwsSolutions-S1": "Recordings are written only by the stage's Browser; CloudTrail data events can "
        "record access when an audit needs it, without a second log bucket per stage.",
        "NIST.800.53.R5-S3BucketLoggingEnabled": "Same as AwsSolutions-S1: only the Browser writes here; "
        "CloudTrail records access.",
        "NIST.800.53.R5-S3BucketReplicationEnabled": "Recordings are diagnostic copies of browser sessions "
        "with a bounded lifetime; a second region would only double what must be protected.",
        "NIST.800.53.R5-S3BucketVersioningEnabled": "Outside a retained stage recordings are disposable and "
        "expire; a retained stage (prod) versions the bucket.",
    }.items():
        if rule.endswith("VersioningEnabled") and config.is_retained:
            continue
        compliance.acknowledge(bucket, rule, reason)
    return bucket


def recording_config(bucket: s3.IBucket | None) -> agentcore.RecordingConfig | None:
    """The Browser's recording settings for `bucket` (None: no recording)."""
    if bucket is None:
        return None
    return agentcore.RecordingConfig(
        enabled=True, s3_location=s3.Location(bucket_name=bucket.bucket_name, object_key=RECORDINGS_PREFIX)
    )


def grant_recording(bucket: s3.Bucket | None, browser: agentcore.BrowserCustom) -> None:
    """The L2 lets the Browser write objects under the prefix; it also needs the bucket key for SSE-KMS.

    The object grant's `<prefix>*` wildcard is listed in iam_wildcards.toml (object keys are the service's).
    """
    if bucket is None or bucket.encryption_key is None:
        return
    role = browser.execution_role
    bucket.encryption_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")  # PutObject + multipart parts
    compliance.acknowledge_policy(role)
