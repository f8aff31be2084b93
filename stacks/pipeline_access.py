"""What the pipeline's post-deploy steps may do in a stage, and the role they assume in a stage of another
account.

Three steps act on a deployed stage (scripts/): the smoke test, the canary rollout and the evaluation gate.
In the pipeline's own account their CodeBuild roles hold these grants themselves, matched by tag (the ids of
the pool and the runtime exist only after the stage deploys). A role cannot be granted anything in another
account, so a stage there gets `PipelineAccessStack`: one role, `<project>-<stage>-pipeline-steps`, with the
union of the stage's steps' grants on its own resources (L2 grants, exact ARNs), trusted only by those steps'
roles; each of them may only assume it (scripts/step_role.py does, given AGENTCORE_STEP_ROLE_ARN).

Both sides know the other's ARN from fixed names, not references (references cannot cross accounts): the step
roles are `<project>-<stage>-<step>-step` in the pipeline account (stacks/pipeline_stack.py).
The trust names the pipeline account with an exact `aws:PrincipalArn` condition rather than the roles as
principals: IAM stores a role principal as that role's unique id, so it refuses a role that does not exist
yet and silently stops trusting a re-created one of the same name; the condition is exact and survives both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks import compliance
from stacks.config import StageConfig
from stacks.identity_stack import POOL_TAG, IdentityStack, pool_tag_value
from stacks.runtime_stack import RuntimeStack
from stacks.spend_guards import STAGE_TAG, stage_tag_value

SMOKE, ROLLOUT, EVALUATE = "smoke", "rollout", "evaluate"
STEPS_ROLE = "pipeline-steps"
STEP_ROLE_VARIABLE = "AGENTCORE_STEP_ROLE_ARN"  # what scripts/step_role.py reads (ENVIRONMENT)
# The admin calls of a temporary customer (scripts/temporary_user.py): create, set its password, delete.
TEMPORARY_USER_ACTIONS = (
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminSetUserPassword",
    "cognito-idp:AdminDeleteUser",
)
# What scripts/rollout.py calls on the stage's runtime and its endpoints (the CloudFormation handlers of
# AWS::BedrockAgentCore::RuntimeEndpoint read and update with the same endpoint actions).
ROLLOUT_ACTIONS = (
    "bedrock-agentcore:ListAgentRuntimeVersions",
    "bedrock-agentcore:GetAgentRuntimeEndpoint",
    "bedrock-agentcore:UpdateAgentRuntimeEndpoint",
)
ALARM_ACTIONS = ("cloudwatch:DescribeAlarms",)
# scripts/alarm_metrics.py: whether each alarm's metric (or Contributor Insights rule) exists. Neither
# action has a resource type: '*' (stacks/iam_wildcards.toml).
METRIC_ACTIONS = ("cloudwatch:ListMetrics", "cloudwatch:DescribeInsightRules")


@dataclass(frozen=True)
class StepNeeds:
    """The AWS calls of one post-deploy script, by the stage resource they touch."""

    pool_actions: tuple[str, ...] = ()
    runtime_actions: tuple[str, ...] = ()
    reads_alarms: bool = False
    lists_metrics: bool = False


NEEDS = {
    # the M2M client's secret, a temporary customer, and the alarms' metrics (alarm-metrics)
    SMOKE: StepNeeds(
        ("cognito-idp:DescribeUserPoolClient", *TEMPORARY_USER_ACTIONS), reads_alarms=True, lists_metrics=True
    ),
    ROLLOUT: StepNeeds(runtime_actions=ROLLOUT_ACTIONS, reads_alarms=True),
    EVALUATE: StepNeeds(TEMPORARY_USER_ACTIONS),
}


def step_role_name(config: StageConfig, step: str) -> str:
    """The pipeline-account role of one post-deploy step of `config`'s stage."""
    return config.dns_name(f"{step}-step")


def steps_role_arn(config: StageConfig, account: str, partition: str) -> str:
    """The role a stage in another account holds for its post-deploy steps."""
    return f"arn:{partition}:iam::{account}:role/{config.dns_name(STEPS_ROLE)}"


def tagged_statements(
    step: str, config: StageConfig, account: str, partition: str
) -> list[iam.PolicyStatement]:
    """The step's grants for a role in the stage's own account, before the stage's ids exist: the pool and
    the runtime are matched by the tags the stage gives them."""
    needs, arn = NEEDS[step], f"arn:{partition}:{{}}:{config.region}:{account}:{{}}"
    tagged = (  # (actions, service, resource, tag, the stage's value)
        (needs.pool_actions, "cognito-idp", "userpool/*", POOL_TAG, pool_tag_value(config)),
        (needs.runtime_actions, "bedrock-agentcore", "runtime/*", STAGE_TAG, stage_tag_value(config)),
    )
    statements = [
        iam.PolicyStatement(
            actions=list(actions),
            resources=[arn.format(service, resource)],
            conditions={"StringEquals": {f"aws:ResourceTag/{tag}": value}},
        )
        for actions, service, resource, tag, value in tagged
        if actions
    ]
    return statements + _cloudwatch_statements([needs], arn.format("cloudwatch", "alarm:*"))


def _cloudwatch_statements(needs: Iterable[StepNeeds], alarms: str) -> list[iam.PolicyStatement]:
    """Alarm states of the stage's account and region (DescribeAlarms by name or prefix), and metric lists."""
    needs = list(needs)
    statements = []
    if any(n.reads_alarms for n in needs):
        statements.append(iam.PolicyStatement(actions=list(ALARM_ACTIONS), resources=[alarms]))
    if any(n.lists_metrics for n in needs):
        statements.append(iam.PolicyStatement(actions=list(METRIC_ACTIONS), resources=["*"]))
    return statements


class PipelineAccessStack(cdk.Stack):
    """`<project>-<stage>-pipeline-steps`: what the pipeline's `steps` may do in this stage, for them only."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        pipeline_account: str,
        steps: Sequence[str],
        identity: IdentityStack,
        runtime: RuntimeStack,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        pipeline_roles = f"arn:{self.partition}:iam::{pipeline_account}:role"
        step_roles = [f"{pipeline_roles}/{step_role_name(config, step)}" for step in steps]
        self.role = iam.Role(
            self,
            "PipelineStepsRole",
            role_name=config.dns_name(STEPS_ROLE),
            description=f"The pipeline's post-deploy steps of stage {config.name}: {', '.join(steps)}",
            assumed_by=iam.AccountPrincipal(pipeline_account).with_conditions(
                {"ArnEquals": {"aws:PrincipalArn": step_roles}}
            ),
        )
        needs = [NEEDS[step] for step in steps]
        pool_actions = sorted({action for n in needs for action in n.pool_actions})
        if pool_actions:
            identity.user_pool.grant(self.role, *pool_actions)
        runtime_actions = sorted({action for n in needs for action in n.runtime_actions})
        if runtime_actions and runtime.canary_endpoint is not None:
            # the runtime (its versions) and exactly the two endpoints a rollout reads and moves
            endpoints = [e.agent_runtime_endpoint_arn for e in (runtime.endpoint, runtime.canary_endpoint)]
            resources = [runtime.runtime.agent_runtime_arn, *endpoints]
            self.role.add_to_policy(iam.PolicyStatement(actions=runtime_actions, resources=resources))
        alarms = f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:*"
        for statement in _cloudwatch_statements(needs, alarms):
            self.role.add_to_policy(statement)
        compliance.acknowledge_policy(self.role)
