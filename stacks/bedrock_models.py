"""The exact Bedrock ARNs an agent needs to call its configured model (never `bedrock:*` on `*`).

A cross-region inference profile id (`us.anthropic...`) routes to the same foundation model in each region
of its geography: invoking it needs the profile ARN plus the foundation-model ARN in every such region.
"""

from __future__ import annotations

import aws_cdk as cdk

# Destination regions of the system-defined cross-region inference profiles, by id prefix.
PROFILE_REGIONS: dict[str, tuple[str, ...]] = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "us-gov": ("us-gov-east-1", "us-gov-west-1"),
    "eu": ("eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"),
    "apac": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
             "ap-southeast-1", "ap-southeast-2", "ap-southeast-4"),
    "jp": ("ap-northeast-1", "ap-northeast-3"),
    "au": ("ap-southeast-2", "ap-southeast-4"),
    "ca": ("ca-central-1", "ca-west-1"),
}  # fmt: skip
INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")


def split_model_id(model_id: str) -> tuple[str | None, str]:
    """(`us`, `anthropic.claude...`) for a profile id; (None, model id) for a foundation model id."""
    prefix, _, rest = model_id.partition(".")
    if prefix in PROFILE_REGIONS or prefix == "global":
        return prefix, rest
    return None, model_id


def model_arns(model_id: str, region: str) -> list[str]:
    """ARNs to grant `bedrock:InvokeModel*` on for `model_id` called from `region`."""
    geography, foundation_id = split_model_id(model_id)
    partition, account = cdk.Aws.PARTITION, cdk.Aws.ACCOUNT_ID
    if geography is None:
        return [f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"]
    profile = f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model_id}"
    if geography == "global":
        # Global profiles route to any commercial region: AWS documents the source region's model ARN
        # plus the region-less one for them.
        return [
            profile,
            f"arn:{partition}:bedrock:{region}::foundation-model/{foundation_id}",
            f"arn:{partition}:bedrock:::foundation-model/{foundation_id}",
        ]
    return [profile] + [
        f"arn:{partition}:bedrock:{r}::foundation-model/{foundation_id}" for r in PROFILE_REGIONS[geography]
    ]
