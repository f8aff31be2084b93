"""The CI pipeline: build and test once, then promote the same synthesized stages in their configured order.

Source (a CodeConnections repository) -> Synth (`make test`, `make review`: the pipeline fails on any test,
cfn-lint or cdk-nag finding, and publishes the review of the commit it deploys as the `review` artifact) ->
self-mutation -> one deployment per stage, in the order of `agentcore:stages`. A stage with
`approval_required` waits for a manual approval first; every stage runs `scripts/smoke.py` against its own
outputs after deploying, so a broken stage never reaches the next one. The stage before an approval-gated one
(staging before prod) also runs the evaluation gate after its smoke test: `scripts/evaluate.py` runs the
versioned cases in `evals/` through the real invocation path as a temporary test user it creates and deletes
(no stored password), and the pipeline stops before the approval when the pass rate is below the cases'
`pass_threshold`. A stage with `canary_percent` runs its canary rollout after the smoke test (and before its
evaluation gate, which then judges the promoted version): `scripts/rollout.py` bakes the new runtime version
on the `canary` endpoint and promotes `live`, or rolls back and fails the stage naming the alarm.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import pipelines
from constructs import Construct

from stacks import compliance
from stacks.config import ConfigError, PipelineConfig
from stacks.identity_stack import POOL_TAG, pool_tag_value
from stacks.spend_guards import STAGE_TAG, stage_tag_value
from stacks.stage import AgentCoreStage
from stacks.trust_policies import apply as condition_service_roles

ROOT = Path(__file__).resolve().parent.parent
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0  # Python 3.11+, Node 20, make
# The agent image is built natively on arm64 (AgentCore runs nothing else): no emulation, Docker included.
IMAGE_BUILD_IMAGE = codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0
IMAGE_DIRECTORY = ".image"  # where the synth step finds the image step's output (image/reference)
IMAGES_KEPT = 100  # builds of past commits, so a stage can be re-deployed from an older execution
# What a stage account's Runtime role needs of the pipeline's repository to pull one image.
PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ARTIFACTS_ARE_REBUILT = (
    "Pipeline artifacts are build outputs, re-created from source by the next run; CloudTrail records access."
)
REVIEW_DIRECTORY = "cdk.out/review"
# The source action's name. CDK Pipelines names it after the repository by default, and that name flows into
# the construct path and so into every logical id under it: the allow-lists (iam_wildcards.toml,
# trust_policies.toml) would then hold one user's repository. A fixed name keeps every user's ids the same.
SOURCE_ACTION = "Repository"
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
# The rollout step's time beyond the bake: `make install`, two endpoint updates to READY (15 minutes at most
# each, scripts/rollout.py READY_TIMEOUT).
ROLLOUT_MARGIN_MINUTES = 45
# What the post-deploy scripts read: environment variable -> (stack, output) of the stage just deployed.
STAGE_OUTPUTS = {
    "INVOCATION_URL": ("Runtime", "InvocationUrl"),
    "GATEWAY_URL": ("Gateway", "GatewayUrl"),
    "TOKEN_ENDPOINT": ("Identity", "TokenEndpoint"),
    "USER_POOL_ID": ("Identity", "UserPoolId"),
    "MACHINE_CLIENT_ID": ("Identity", "MachineClientId"),
    "USER_CLIENT_ID": ("Identity", "UserClientId"),
    "AWS_REGION": ("Identity", "Region"),
}


def cdk_cli_version() -> str:
    """The CDK CLI pinned in package.json, so the pipeline deploys with the CLI the repository tests with."""
    return json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]


def _refuse_other_regions(pipeline: PipelineConfig, stages: Sequence[AgentCoreStage]) -> None:
    """A stage in another region than the pipeline's would need CDK Pipelines' cross-region support stack
    (a replication bucket and key per region, none of it reviewed here): refused with the fix."""
    for stage in stages:
        if stage.config.region != pipeline.region:
            raise ConfigError(
                f"stage '{stage.config.name}', key 'region': {stage.config.region} differs from the "
                f"pipeline's region {pipeline.region}; the pipeline promotes stages of its own region "
                "(set the stage's region, or the pipeline's, so they match)"
            )


class PipelineStack(cdk.Stack):
    """CDK Pipelines over every stage, with approval gates and post-deploy smoke tests."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline: PipelineConfig,
        stages: Sequence[AgentCoreStage],
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        _refuse_other_regions(pipeline, stages)
        condition_service_roles(self)
        source = pipelines.CodePipelineSource.connection(
            pipeline.repository,
            pipeline.branch,
            connection_arn=pipeline.connection_arn,
            action_name=SOURCE_ACTION,
        )
        self.stage_accounts = {stage.stage_name: stage.config.account or self.account for stage in stages}
        self.images = self._image_repository(stages[0].config.project)
        self.image_build = self._image_build(source)
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=f"{stages[0].config.project}-agent",
            synth=self._synth(source, self.image_build),
            cli_version=cdk_cli_version(),
            cross_account_keys=True,
            enable_key_rotation=True,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE)
            ),
        )
        self.preflights: dict[str, pipelines.CodeBuildStep] = {}
        self.smoke_tests: dict[str, pipelines.CodeBuildStep] = {}
        self.evaluations: dict[str, pipelines.CodeBuildStep] = {}
        self.rollouts: dict[str, pipelines.CodeBuildStep] = {}
        for stage, following in zip(stages, [*stages[1:], None], strict=True):
            preflight = self.preflights[stage.stage_name] = self._preflight(stage)
            pre: list[pipelines.Step] = [preflight]
            if stage.config.approval_required:
                approval = pipelines.ManualApprovalStep(f"Approve-{stage.stage_name}")
                approval.add_step_dependency(preflight)  # the approver sees a checked account
                pre.append(approval)
            smoke = self.smoke_tests[stage.stage_name] = self._smoke_test(stage)
            post: list[pipelines.Step] = [smoke]
            if stage.config.canary:
                rollout = self.rollouts[stage.stage_name] = self._rollout(stage)
                rollout.add_step_dependency(post[-1])
                post.append(rollout)
            if following is not None and following.config.approval_required:
                evaluation = self.evaluations[stage.stage_name] = self._evaluation(stage)
                evaluation.add_step_dependency(post[-1])
                post.append(evaluation)
            self.pipeline.add_stage(stage, pre=pre, post=post)
        self.pipeline.build_pipeline()  # build now, so the constructs it creates can be acknowledged
        self.images.grant_pull_push(self.image_build.project)
        self.images.grant(self.image_build.project, "ecr:DescribeImages")
        self._acknowledge()

    def _acknowledge(self) -> None:
        """CDK Pipelines' own roles and bucket; every wildcard statement is in stacks/iam_wildcards.toml."""
        code_pipeline = self.pipeline.pipeline
        bucket = compliance.at(code_pipeline, "ArtifactsBucket")
        compliance.acknowledge_all(
            bucket.node.default_child,
            {
                "AwsSolutions-S1": ARTIFACTS_ARE_REBUILT,
                "NIST.800.53.R5-S3BucketLoggingEnabled": ARTIFACTS_ARE_REBUILT,
                "NIST.800.53.R5-S3BucketReplicationEnabled": ARTIFACTS_ARE_REBUILT,
                "NIST.800.53.R5-S3BucketVersioningEnabled": (
                    "Each pipeline execution writes new artifact keys; nothing is overwritten to recover."
                ),
            },
        )
        roles = [
            compliance.at(code_pipeline, path)
            for path in (
                "Role",
                f"Source/{SOURCE_ACTION}/CodePipelineActionRole",
                "Build/Synth/CdkBuildProject/Role",
                "Build/BuildImage/BuildImage/Role",
                *(f"{name}/{smoke.id}/{smoke.id}/Role" for name, smoke in self.smoke_tests.items()),
                *(f"{name}/{step.id}/{step.id}/Role" for name, step in self.preflights.items()),
                *(f"{name}/{step.id}/{step.id}/Role" for name, step in self.evaluations.items()),
                *(f"{name}/{step.id}/{step.id}/Role" for name, step in self.rollouts.items()),
            )
        ]
        roles += [
            compliance.at(self.pipeline, path)
            for path in ("UpdatePipeline/SelfMutation/Role", "Assets/FileRole", "CodeBuildActionRole")
        ]
        for role in roles:
            compliance.acknowledge_policy(role)

    def _image_repository(self, project: str) -> ecr.Repository:
        """The one repository every stage pulls the agent image from. Stages in other accounts may pull (the
        repository policy names their accounts; each account's IAM then lets only its Runtime role), and
        decrypt through ECR only (the key policy); see docs/RELEASES.md for why not ECR replication."""
        key = kms.Key(
            self, "AgentImagesKey", enable_key_rotation=True, description=f"{project}: agent images at rest"
        )
        repository = ecr.Repository(
            self,
            "AgentImages",
            repository_name=f"{project}-agent",
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=key,
            lifecycle_rules=[ecr.LifecycleRule(max_image_count=IMAGES_KEPT)],
            removal_policy=cdk.RemovalPolicy.RETAIN,  # stages run these images: never deleted with the stack
        )
        others = sorted({account for account in self.stage_accounts.values() if account != self.account})
        if others:
            principals = [iam.AccountPrincipal(account) for account in others]
            repository.add_to_resource_policy(
                iam.PolicyStatement(principals=principals, actions=list(PULL_ACTIONS))
            )
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=principals,
                    actions=["kms:Decrypt"],
                    resources=["*"],
                    conditions={"StringEquals": {"kms:ViaService": f"ecr.{self.region}.amazonaws.com"}},
                )
            )
        return repository

    def _image_build(self, source: pipelines.CodePipelineSource) -> pipelines.CodeBuildStep:
        """One arm64 build of agent_src per source commit (scripts/build_image.sh), before the synth."""
        return pipelines.CodeBuildStep(
            "BuildImage",
            input=source,
            commands=["bash scripts/build_image.sh"],
            env={
                "IMAGE_REPOSITORY": self.images.repository_uri,
                "COMMIT_ID": source.source_attribute("CommitId"),
            },
            build_environment=codebuild.BuildEnvironment(build_image=IMAGE_BUILD_IMAGE, privileged=True),
            primary_output_directory="image",
        )

    def _synth(
        self, source: pipelines.CodePipelineSource, image: pipelines.CodeBuildStep
    ) -> pipelines.ShellStep:
        """Test, synthesize every stage with the image build's digest (`make synth IMAGE=...`), review that
        assembly (the stamp `make synth` leaves makes `make review` reuse it); the review of this commit is
        its own artifact (`review`)."""
        synth = pipelines.ShellStep(
            "Synth",
            input=source,
            additional_inputs={IMAGE_DIRECTORY: image},
            commands=["make test", f'make synth IMAGE="$(cat {IMAGE_DIRECTORY}/reference)"', "make review"],
            primary_output_directory="cdk.out",
        )
        self.review_output = synth.add_output_directory(REVIEW_DIRECTORY)
        return synth

    def _preflight(self, stage: AgentCoreStage) -> pipelines.CodeBuildStep:
        """scripts/preflight.py before the stage deploys, as the stage account's CDK lookup role (read-only;
        a stage account bootstrapped with `--trust <pipeline account>` lets the pipeline assume it)."""
        account, region = self.stage_accounts[stage.stage_name], stage.config.region
        lookup_role = f"arn:{self.partition}:iam::{account}:role/cdk-hnb659fds-lookup-role-{account}-{region}"
        return pipelines.CodeBuildStep(
            f"Preflight-{stage.stage_name}",
            commands=[
                "make install",
                f".venv/bin/python scripts/preflight.py --stage {stage.stage_name}"
                f" --assume-role {lookup_role}",
            ],
            role_policy_statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[lookup_role])],
        )

    def _rollout(self, stage: AgentCoreStage) -> pipelines.CodeBuildStep:
        """scripts/rollout.py on the stage's runtime (output RuntimeId): bake, then promote or roll back.

        Its role may read the stage's canary alarms and read and move the endpoints of the stage's runtime
        only. The runtime id exists only after the stage deploys (and in the stage's account), so the runtime
        and its endpoints are matched by the stage tag every resource of the stage carries."""
        config, account = stage.config, self.stage_accounts[stage.stage_name]
        return pipelines.CodeBuildStep(
            f"Rollout-{stage.stage_name}",
            commands=[
                "make install",
                '.venv/bin/python scripts/rollout.py --runtime-id "$RUNTIME_ID"'
                f" --alarm-prefix {config.dns_name('canary-')} --bake-minutes {config.canary_bake_minutes}"
                f" --live-endpoint {config.endpoint_name}",
            ],
            env_from_cfn_outputs={"RUNTIME_ID": stage.runtime.outputs["RuntimeId"]},
            role_policy_statements=[
                iam.PolicyStatement(
                    actions=list(ROLLOUT_ACTIONS),
                    resources=[f"arn:{self.partition}:bedrock-agentcore:{config.region}:{account}:runtime/*"],
                    conditions={"StringEquals": {f"aws:ResourceTag/{STAGE_TAG}": stage_tag_value(config)}},
                ),
                iam.PolicyStatement(
                    actions=["cloudwatch:DescribeAlarms"],
                    resources=[f"arn:{self.partition}:cloudwatch:{config.region}:{account}:alarm:*"],
                ),
            ],
            timeout=cdk.Duration.minutes(config.canary_bake_minutes + ROLLOUT_MARGIN_MINUTES),
        )

    def _evaluation(self, stage: AgentCoreStage) -> pipelines.CodeBuildStep:
        """scripts/evaluate.py against the stage, as a temporary customer it creates and deletes."""
        return self._stage_check(
            stage,
            f"Evaluate-{stage.stage_name}",
            "scripts/evaluate.py --report evaluation.json",
            outputs=("INVOCATION_URL", "USER_CLIENT_ID", "USER_POOL_ID", "AWS_REGION"),
            pool_actions=TEMPORARY_USER_ACTIONS,
            timeout=cdk.Duration.minutes(30),
        )

    def _smoke_test(self, stage: AgentCoreStage) -> pipelines.CodeBuildStep:
        """scripts/smoke.py against the stage just deployed: auth is on, tools answer via the gateway.

        It reads the M2M client's secret to get a gateway token, as the agent's credential provider does, and
        signs in as a temporary customer it creates and deletes (scripts/temporary_user.py)."""
        return self._stage_check(
            stage,
            f"SmokeTest-{stage.stage_name}",
            "scripts/smoke.py",
            outputs=tuple(STAGE_OUTPUTS),
            pool_actions=("cognito-idp:DescribeUserPoolClient", *TEMPORARY_USER_ACTIONS),
            timeout=cdk.Duration.minutes(15),
        )

    def _stage_check(
        self,
        stage: AgentCoreStage,
        step_id: str,
        script: str,
        *,
        outputs: Sequence[str],
        pool_actions: Sequence[str],
        timeout: cdk.Duration,
    ) -> pipelines.CodeBuildStep:
        """A post-deploy script, given the stage's `outputs` (names of STAGE_OUTPUTS), whose role may call
        `pool_actions` on the stage's own user pool only. The pool id exists only after the stage deploys
        (and in the stage's account), so the pool is matched by the tag its identity stack gives it."""
        stacks = {"Runtime": stage.runtime, "Gateway": stage.gateway, "Identity": stage.identity}
        config = stage.config
        return pipelines.CodeBuildStep(
            step_id,
            commands=["make install", f".venv/bin/python {script}"],
            env_from_cfn_outputs={
                name: stacks[stack].outputs[key]
                for name, (stack, key) in STAGE_OUTPUTS.items()
                if name in outputs
            },
            role_policy_statements=[
                iam.PolicyStatement(
                    actions=list(pool_actions),
                    resources=[
                        f"arn:{self.partition}:cognito-idp:{config.region}:"
                        f"{self.stage_accounts[stage.stage_name]}:userpool/*"
                    ],
                    conditions={"StringEquals": {f"aws:ResourceTag/{POOL_TAG}": pool_tag_value(config)}},
                )
            ],
            timeout=timeout,
        )
