"""Resource policies that let one AWS service act for this account only (confused-deputy safe)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk


def account_arn(stack: cdk.Stack, service: str, resource: str) -> str:
    """`arn:<partition>:<service>:<region>:<account>:<resource>` of the stack's own account and region."""
    return f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}:{resource}"


def service_policy(
    stack: cdk.Stack,
    *,
    sid: str,
    service: str,
    action: str,
    resource: str | list[str],
    source_arn: str,
    conditions: dict[str, Any] | None = None,
) -> str:
    """A one-statement policy document (JSON) for `service`, limited to this account (aws:SourceAccount)
    and to the source resources `source_arn` matches (aws:SourceArn)."""
    statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": action,
        "Resource": resource,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": source_arn},
            **(conditions or {}),
        },
    }
    return stack.to_json_string({"Version": "2012-10-17", "Statement": [statement]})
