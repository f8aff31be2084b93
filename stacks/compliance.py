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
    from stacks.pipeline_stack import PipelineStack
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


def acknowledge_iam5(construct: IConstruct, findings: dict[str, str]) -> None:
    """AwsSolutions-IAM5 is reported per wildcard; each one gets its own reason."""
    for finding, reason in findings.items():
        acknowledge(construct, f"AwsSolutions-IAM5[{finding}]", reason)


def _child(scope: IConstruct, id_prefix: str) -> IConstruct:
    """A construct a library adds under a generated id (e.g. a singleton provider function)."""
    matches = [c for c in scope.node.children if c.node.id.startswith(id_prefix)]
    if len(matches) != 1:
        raise LookupError(f"expected one child of {scope.node.path} named {id_prefix}*, found {len(matches)}")
    return matches[0]


def _token(stack: cdk.Stack, construct: IConstruct, attribute: str | None = None) -> str:
    """How cdk-nag renders a reference to `construct` (or one of its attributes) inside an IAM5 finding."""
    logical_id = stack.get_logical_id(construct.node.default_child)
    return f"<{logical_id}.{attribute}>" if attribute else f"<{logical_id}>"


def acknowledge_stage(stage: AgentCoreStage) -> None:
    """Every acknowledgment of one stage, grouped by the stack that owns the construct."""
    _identity(stage)
    _gateway(stage)
    _memory(stage)
    _runtime(stage)


INLINE_POLICY = (
    "CDK grants write one policy per role, scoped to this stage's resources; a customer-managed policy "
    "would only move the same statements and could be attached to other roles by mistake."
)
BASIC_EXECUTION_ROLE = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# A library's custom resource handler: child path -> {rule: reason}.
PROVIDER_FUNCTION: dict[str, dict[str, str]] = {
    "ServiceRole": {
        f"AwsSolutions-IAM4[Policy::{BASIC_EXECUTION_ROLE}]": (
            "Library-owned custom resource handler: the AWS managed basic execution policy only lets it "
            "write its own CloudWatch logs."
        ),
    },
    "ServiceRole/DefaultPolicy/Resource": {"NIST.800.53.R5-IAMNoInlinePolicy": INLINE_POLICY},
    "LogGroup/Resource": {
        "NIST.800.53.R5-CloudWatchLogGroupEncrypted": (
            "Holds only the deploy-time handler's own start/stop logs (no user data); CloudWatch encrypts it."
        ),
    },
    "Resource": {
        "AwsSolutions-L1": "Library-owned custom resource handler; its runtime is pinned by the library.",
        "Serverless-LambdaDefaultMemorySize": "Deploy-time handler, run a few times per deploy.",
        "Serverless-LambdaDLQ": "Invoked synchronously by CloudFormation, which reports failures.",
        "Serverless-LambdaLatestVersion": "Runtime version is pinned by the library that owns this handler.",
        "Serverless-LambdaTracing": "Deploy-time custom resource handler; CloudFormation events trace it.",
        "NIST.800.53.R5-LambdaConcurrency": "Runs only during deployments, bounded by CloudFormation.",
        "NIST.800.53.R5-LambdaDLQ": "Invoked synchronously by CloudFormation, which reports failures.",
        "NIST.800.53.R5-LambdaInsideVPC": "Calls only AWS control-plane APIs during deploys.",
    },
}


KMS_GRANT = (
    "KMS grants for one stage key: GenerateDataKey*/ReEncrypt* are the action families CDK's encrypt/decrypt "
    "grant uses, limited to that single key's ARN."
)
# The singleton handler behind every AwsCustomResource in a stack (CDK's fixed id).
AWS_CUSTOM_RESOURCE_PROVIDER = "AWS679f53fac002430cb0da5b7982bd2287"


def _provider_function(function: IConstruct) -> None:
    """A library's deploy-time custom resource Lambda: we cannot change it, so every finding is explained."""
    for path, rules in PROVIDER_FUNCTION.items():
        target: IConstruct | None = function
        for part in path.split("/"):
            target = target.node.try_find_child(part) if target else None
        if target is None and path.endswith("DefaultPolicy/Resource"):
            continue  # this handler got no grants, so it has no inline policy
        if target is None:
            raise LookupError(f"{function.node.path}/{path} not found: did the library change its layout?")
        for rule, reason in rules.items():
            acknowledge(target, rule, reason)


def _kms_grants(policy: IConstruct) -> None:
    acknowledge_iam5(policy, {"Action::kms:GenerateDataKey*": KMS_GRANT, "Action::kms:ReEncrypt*": KMS_GRANT})


def _default_policy(grantable: IConstruct) -> IConstruct:
    """The L1 policy CDK grants write to on a role."""
    return grantable.node.find_child("DefaultPolicy").node.default_child


def _runtime(stage: AgentCoreStage) -> None:
    stack, config = stage.runtime, stage.config
    region = config.region
    role_policy = stack.runtime.role.node.find_child("DefaultPolicy").node.default_child
    acknowledge(role_policy, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)
    acknowledge_iam5(
        role_policy,
        {
            "Resource::*": (
                "AWS requires '*' for ecr:GetAuthorizationToken and the X-Ray telemetry actions; "
                "cloudwatch:PutMetricData is limited to the bedrock-agentcore namespace by condition."
            ),
            f"Resource::arn:aws:logs:{region}:<AWS::AccountId>:log-group:/aws/bedrock-agentcore/runtimes/*": (
                "The runtime id is assigned at creation, so its log groups are matched under the AgentCore "
                "runtimes prefix (the AWS-documented execution role)."
            ),
            f"Resource::arn:aws:logs:{region}:<AWS::AccountId>:log-group:/aws/bedrock-agentcore/runtimes/*"
            ":log-stream:*": "Log streams are created per session under the runtime's own log groups.",
            f"Resource::arn:aws:logs:{region}:<AWS::AccountId>:log-group:*": (
                "logs:DescribeLogGroups cannot be scoped to a log group; it reads names only."
            ),
            f"Resource::arn:aws:bedrock-agentcore:{region}:<AWS::AccountId>:workload-identity-directory/default"
            "/workload-identity/*": (
                "The runtime's workload identity is created by the service when the runtime is, so its name "
                "is only known after deployment; the directory is fixed to 'default'."
            ),
        },
    )
    acknowledge_iam5(
        role_policy,
        {
            f"Resource::arn:aws:secretsmanager:{region}:<AWS::AccountId>:secret:"
            "bedrock-agentcore-identity!*": (
                "AgentCore Identity stores the gateway client's secret under its own service prefix; the "
                "secret's ARN is an object attribute CloudFormation cannot export across stacks, so the "
                "grant covers that prefix only (never other secrets)."
            )
        },
    )
    if config.image_build == "codebuild":
        _image_build(stage)


def _image_build(stage: AgentCoreStage) -> None:
    stack, region = stage.runtime, stage.config.region
    _provider_function(_child(stack, "DeployTimeBuildCustomResourceHandler"))
    project = _child(stack, "ContainerImageBuild")
    acknowledge(
        project.node.default_child,
        "AwsSolutions-CB4",
        "The build produces no artifacts (the image goes to this stage's KMS-encrypted ECR repository); "
        "CodeBuild encrypts its logs and cache with the AWS managed key.",
    )
    role = project.node.find_child("Role")
    acknowledge(
        role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly]",
        "The image build pulls public base images from ECR Public; the managed policy is read-only.",
    )
    policy = role.node.find_child("DefaultPolicy").node.default_child
    acknowledge(policy, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)
    project_token = _token(stack, project)
    acknowledge_iam5(
        policy,
        {
            "Resource::*": "ecr:GetAuthorizationToken (to push and pull images) only accepts '*'.",
            f"Resource::arn:aws:logs:{region}:<AWS::AccountId>:log-group:/aws/codebuild/{project_token}:*": (
                "CodeBuild names a log stream per build under the project's own log group."
            ),
            f"Resource::arn:aws:codebuild:{region}:<AWS::AccountId>:report-group/{project_token}-*": (
                "CodeBuild report groups are created per build under the project's own name."
            ),
            "Action::s3:GetBucket*": "Read-only access to the CDK asset bucket that holds the build context.",
            "Action::s3:GetObject*": "Read-only access to the CDK asset bucket that holds the build context.",
            "Action::s3:List*": "Read-only access to the CDK asset bucket that holds the build context.",
            f"Resource::arn:aws:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-{region}/*": (
                "The build context is a CDK file asset; asset object keys are content hashes."
            ),
        },
    )


TOOL_FUNCTION = {
    "AwsSolutions-L1": (
        "Pinned to python3.13, the newest runtime for which the pinned Powertools layer is published; bump "
        "tools_stack.RUNTIME together with the layer."
    ),
    "Serverless-LambdaLatestVersion": (
        "The function runs its published $LATEST code through the gateway target; versions/aliases would "
        "add nothing here because each deploy replaces the target's function configuration."
    ),
    "Serverless-LambdaDLQ": (
        "The gateway invokes tools synchronously and returns failures to the agent as tool errors; there is "
        "no asynchronous event to dead-letter."
    ),
    "NIST.800.53.R5-LambdaDLQ": (
        "The gateway invokes tools synchronously and returns failures to the agent as tool errors; there is "
        "no asynchronous event to dead-letter."
    ),
    "NIST.800.53.R5-LambdaConcurrency": (
        "Tool calls are bounded by agent sessions; reserving concurrency would take it from the account's "
        "shared pool and fail deploys in accounts with low Lambda quotas."
    ),
    "NIST.800.53.R5-LambdaInsideVPC": (
        "Tools reach only DynamoDB over AWS endpoints with IAM auth; no private network resource exists "
        "that a VPC would protect."
    ),
}


def _gateway(stage: AgentCoreStage) -> None:
    stack = stage.gateway
    tools = stack.tools
    gateway_policy = _default_policy(stack.gateway.role)
    acknowledge(gateway_policy, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)
    _kms_grants(gateway_policy)
    for target, function in tools.functions.items():
        for rule, reason in TOOL_FUNCTION.items():
            acknowledge(function.node.default_child, rule, reason)
        policy = _default_policy(function.role)
        acknowledge(policy, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)
        _kms_grants(policy)
        acknowledge_iam5(
            policy, {"Resource::*": "X-Ray PutTraceSegments/PutTelemetryRecords only accept '*'."}
        )
        acknowledge_iam5(
            gateway_policy,
            {
                f"Resource::{_token(stack, function, 'Arn')}:*": (
                    f"Invoke on the '{target}' tool function and its versions (CDK's invoke grant); no other "
                    "function."
                )
            },
        )
    acknowledge_iam5(
        _default_policy(tools.functions["orders"].role),
        {
            f"Resource::{_token(stack, tools.tables['orders'], 'Arn')}/index/*": (
                "list_orders queries the orders table's own GSIs (by_customer, by_status)."
            )
        },
    )
    _aws_custom_resources(stack)
    _kms_grants(_default_policy(_child(stack, AWS_CUSTOM_RESOURCE_PROVIDER).node.find_child("ServiceRole")))
    for target in tools.functions:
        seed = tools.node.try_find_child(f"{target.title()}Seed")
        if seed is not None:
            acknowledge(seed.node.find_child("CustomResourcePolicy").node.default_child,
                        "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)  # fmt: skip


def _aws_custom_resources(stack: cdk.Stack) -> None:
    _provider_function(_child(stack, AWS_CUSTOM_RESOURCE_PROVIDER))


def _memory(stage: AgentCoreStage) -> None:
    policy = stage.memory.memory.execution_role.node.find_child("DefaultPolicy").node.default_child
    acknowledge(policy, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)
    acknowledge_iam5(
        policy,
        {
            "Action::kms:ReEncrypt*": (
                "The Memory service role encrypts with this stage's memory key only; ReEncrypt* is part of "
                "the KMS encrypt/decrypt grant on that single key."
            )
        },
    )


def _identity(stage: AgentCoreStage) -> None:
    identity = stage.identity
    cdk.Annotations.of(identity.gateway_credentials).acknowledge_warning(
        "aws-cdk-lib.aws-bedrockagentcore:wildcardSecretArnGrant",
        "Accepted for the runtime role (see the AwsSolutions-IAM5 acknowledgment on it): the grant is "
        "limited to AgentCore Identity's own secret prefix.",
    )
    _aws_custom_resources(identity)
    describe = identity.m2m_client.node.find_child("DescribeCognitoUserPoolClient")
    acknowledge(describe.node.find_child("CustomResourcePolicy").node.default_child,
                "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)  # fmt: skip
    pool = identity.user_pool.node.default_child
    if stage.config.mfa == "optional":
        acknowledge(
            pool,
            "AwsSolutions-COG2",
            "MFA is optional only in stages configured with mfa=optional (non-production), so smoke tests "
            "and developers can log in from the CLI; TOTP is offered, and prod is configured mfa=required.",
        )


def _at(root: IConstruct, path: str) -> IConstruct:
    """The construct at `path` below `root` (a library's layout, named where we rely on it)."""
    node = root
    for part in path.split("/"):
        node = node.node.find_child(part)
    return node


def acknowledge_pipeline(stack: PipelineStack) -> None:
    """CDK Pipelines' own roles and bucket: every wildcard is the library's scoping to its own artifacts."""
    pipeline = stack.pipeline
    code_pipeline = pipeline.pipeline
    where = f"{stack.region}:{stack.account}"
    bucket = _at(code_pipeline, "ArtifactsBucket")
    for rule, reason in {
        "AwsSolutions-S1": "Artifacts are build outputs, re-created from source; CloudTrail records access.",
        "NIST.800.53.R5-S3BucketLoggingEnabled": "Artifacts are build outputs; CloudTrail records access.",
        "NIST.800.53.R5-S3BucketReplicationEnabled": "Artifacts are re-created from source by the next run.",
        "NIST.800.53.R5-S3BucketVersioningEnabled": "Each pipeline execution writes new artifact keys.",
    }.items():
        acknowledge(bucket.node.default_child, rule, reason)

    artifacts = _token(stack, bucket, "Arn")
    read = {
        "Action::s3:GetBucket*": "Read the pipeline's own artifact bucket (CDK Pipelines grant).",
        "Action::s3:GetObject*": "Read the pipeline's own artifact bucket (CDK Pipelines grant).",
        "Action::s3:List*": "Read the pipeline's own artifact bucket (CDK Pipelines grant).",
        f"Resource::{artifacts}/*": "Artifact keys are generated per execution in the pipeline bucket.",
    }
    write = {
        **read,
        "Action::s3:Abort*": "Write the pipeline's own artifacts (multipart uploads) in its bucket only.",
        "Action::s3:DeleteObject*": "Replace the pipeline's own artifacts in its bucket only.",
    }
    kms = {"Action::kms:GenerateDataKey*": KMS_GRANT, "Action::kms:ReEncrypt*": KMS_GRANT}

    def codebuild(project: IConstruct) -> dict[str, str]:
        token = _token(stack, project)
        return {
            f"Resource::arn:aws:logs:{where}:log-group:/aws/codebuild/{token}:*": (
                "CodeBuild writes one log stream per build under the project's own log group."
            ),
            f"Resource::arn:aws:codebuild:{where}:report-group/{token}-*": (
                "CodeBuild creates report groups per build under the project's own name."
            ),
        }

    synth = _at(code_pipeline, "Build/Synth/CdkBuildProject")
    self_mutation = _at(pipeline, "UpdatePipeline/SelfMutation")
    roles: dict[str, dict[str, str]] = {
        "Role": {**write, **kms},
        f"Source/{stack.source_action_name}/CodePipelineActionRole": {**write, **kms},
        "Build/Synth/CdkBuildProject/Role": {**write, **kms, **codebuild(synth)},
    }
    for name, smoke in stack.smoke_tests.items():
        project = _at(code_pipeline, f"{name}/{smoke.id}/{smoke.id}")
        account = stack.stage_accounts[name]
        roles[f"{name}/{smoke.id}/{smoke.id}/Role"] = {
            **read,
            **kms,
            **codebuild(project),
            f"Resource::arn:aws:cognito-idp:{stack.stage_regions[name]}:{account}:userpool/*": (
                "The smoke test reads the stage's M2M client secret; the pool id exists only after deploy."
            ),
        }
    for path, findings in roles.items():
        policy = _default_policy(_at(code_pipeline, path))
        acknowledge(policy, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)
        acknowledge_iam5(policy, findings)

    mutation_policy = _default_policy(self_mutation.node.find_child("Role"))
    acknowledge(mutation_policy, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)
    acknowledge_iam5(
        mutation_policy,
        {
            **read,
            **kms,
            **codebuild(self_mutation),
            f"Resource::arn:*:iam::{stack.account}:role/*": (
                "Self-mutation assumes the CDK bootstrap deploy roles (cdk-*) in the target accounts."
            ),
            "Resource::*": "cloudformation:DescribeStacks to read the pipeline stack accepts only '*'.",
        },
    )
    file_role = _default_policy(_at(pipeline, "Assets/FileRole"))
    acknowledge(file_role, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)
    acknowledge_iam5(
        file_role,
        {
            **read,
            "Resource::*": "Asset publishing assumes the bootstrap publishing roles, found at deploy.",
            f"Resource::arn:aws:logs:{where}:log-group:/aws/codebuild/*": (
                "One shared role for the asset-publishing projects CDK Pipelines creates per asset."
            ),
            f"Resource::arn:aws:codebuild:{where}:report-group/*": (
                "One shared role for the asset-publishing projects CDK Pipelines creates per asset."
            ),
        },
    )
    acknowledge(
        _default_policy(_at(pipeline, "CodeBuildActionRole")),
        "NIST.800.53.R5-IAMNoInlinePolicy",
        INLINE_POLICY,
    )
