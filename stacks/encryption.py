"""Stage-owned KMS keys and the removal policy of stateful resources, decided in one place."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import StageConfig


def removal_policy(config: StageConfig) -> cdk.RemovalPolicy:
    """RETAIN keeps data (and the keys that read it) when a stage's stacks are deleted."""
    return cdk.RemovalPolicy.RETAIN if config.is_retained else cdk.RemovalPolicy.DESTROY


def stage_key(scope: Construct, construct_id: str, config: StageConfig, purpose: str) -> kms.Key:
    """A rotating customer-managed key for one purpose of one stage, retained with the stage's data."""
    component = cdk.Stack.of(scope).node.id.lower()
    return kms.Key(
        scope,
        construct_id,
        description=f"{config.dns_name(component)}: {purpose}",
        enable_key_rotation=True,
        removal_policy=removal_policy(config),
    )
