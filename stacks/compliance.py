"""Compliance gates: the cdk-nag packs every stage is checked against, and every acknowledgment.

An unacknowledged finding fails `cdk synth`. Each acknowledgment names one rule (or one IAM5 finding), is
attached to the narrowest construct that causes it and says why it is acceptable; nothing is acknowledged
for a whole stack, stage or app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks, ServerlessChecks
from constructs import IConstruct

if TYPE_CHECKING:
    from stacks.stage import AgentCoreStage

MIN_REASON_CHARS = 40


def add_packs(app: cdk.App) -> None:
    """AwsSolutions, Serverless and NIST 800-53 R5 over every stack of every stage."""
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app), ServerlessChecks(app), NIST80053R5Checks(app)
    )


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one rule on one construct, refusing blanket scopes and empty reasons."""
    if isinstance(construct, cdk.Stack | cdk.Stage | cdk.App):
        raise ValueError(f"{rule}: acknowledge on the construct that causes it, not on {construct.node.path}")
    if len(reason.strip()) < MIN_REASON_CHARS:
        raise ValueError(f"{rule} on {construct.node.path}: give a reason a reviewer would accept")
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def acknowledge_stage(stage: AgentCoreStage) -> None:
    """Every acknowledgment of one stage, grouped by the stack that owns the construct."""
    _identity(stage)


def _identity(stage: AgentCoreStage) -> None:
    pool = stage.identity.user_pool.node.default_child
    if stage.config.mfa == "optional":
        acknowledge(
            pool,
            "AwsSolutions-COG2",
            "MFA is optional only in stages configured with mfa=optional (non-production), so smoke tests "
            "and developers can log in from the CLI; TOTP is offered, and prod is configured mfa=required.",
        )
