"""The agent image a pipeline built once, pinned by digest (context `agentcore:image`), for every stage.

Without it a stage builds its own image at deploy time (runtime_stack.py), as a plain `cdk deploy 'dev/*'`
does. With it, every stage's Runtime runs exactly that image:
`<account>.dkr.ecr.<region>.amazonaws.com/<name>@sha256:<digest>`. A tag would not do: the same tag can be
pushed again, and CloudFormation sees no change when only the image behind a tag changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import ConfigError

IMAGE_KEY = "agentcore:image"
IMAGE_REFERENCE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)@sha256:[0-9a-f]{64}"
)


@dataclass(frozen=True)
class PinnedImage:
    uri: str
    account: str
    region: str
    repository_name: str

    def repository_arn(self, partition: str) -> str:
        return f"arn:{partition}:ecr:{self.region}:{self.account}:repository/{self.repository_name}"


def pinned_image(value: Any) -> PinnedImage | None:
    """The context value checked: None when unset; refused when it is not an ECR image by digest."""
    if value is None or value == "":
        return None
    match = IMAGE_REFERENCE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(
            f"context '{IMAGE_KEY}': {json.dumps(value)} is not an ECR image by digest "
            "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex digits>)"
        )
    return PinnedImage(value, match["account"], match["region"], match["name"])


def image_repository(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    keep: int,
    removal_policy: cdk.RemovalPolicy,
    **extra: Any,
) -> ecr.Repository:
    """Where agent images live, a stage's own or the pipeline's: scanned on push, tags immutable (a tag never
    points at other bytes), encrypted with `key`, the last `keep` images kept."""
    return ecr.Repository(
        scope,
        construct_id,
        image_scan_on_push=True,
        image_tag_mutability=ecr.TagMutability.IMMUTABLE,
        encryption=ecr.RepositoryEncryption.KMS,
        encryption_key=key,
        lifecycle_rules=[ecr.LifecycleRule(description=f"Keep the last {keep} images", max_image_count=keep)],
        removal_policy=removal_policy,
        **extra,
    )
