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
on the `canary` endpoint and promotes `live`, or rolls back and fails the stage naming the alarm. Each of
these post-deploy steps runs under its own named role; for a stage in another account that role may only
assume the stage's `<project>-<stage>-pipeline-steps` role (stacks/pipeline_access.py).
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
from stacks.agent_image import image_repository
from stacks.config import ConfigError, PipelineConfig
from stacks.pipeline_access import (
    EVALUATE,
    ROLLOUT,
    SMOKE,
    STEP_ROLE_VARIABLE,
    PipelineAccessStack,
    step_role_name,
    steps_role_arn,
    tagged_statements,
)
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
    "ALARM_NAMES": ("Observability", "AlarmNames"),
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
        self.step_roles: list[iam.Role] = []
        self.access: dict[str, PipelineAccessStack] = {}
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
            evaluated = following is not None and following.config.approval_required
            steps = [SMOKE] + ([ROLLOUT] if stage.config.canary else []) + ([EVALUATE] if evaluated else [])
            self._grant_access(stage, steps)
            smoke = self.smoke_tests[stage.stage_name] = self._smoke_test(stage)
            post: list[pipelines.Step] = [smoke]
            if stage.config.canary:
                rollout = self.rollouts[stage.stage_name] = self._rollout(stage)
                rollout.add_step_dependency(post[-1])
                post.append(rollout)
            if evaluated:
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
                *(f"{name}/{step.id}/{step.id}/Role" for name, step in self.preflights.items()),
            )
        ]
        roles += self.step_roles  # the post-deploy steps' own (named) roles
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
        repository = image_repository(
            self,
            "AgentImages",
            key=key,
            keep=IMAGES_KEPT,
            removal_policy=cdk.RemovalPolicy.RETAIN,  # stages run these images: never deleted with the stack
            repository_name=f"{project}-agent",
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

    def _grant_access(self, stage: AgentCoreStage, steps: Sequence[str]) -> None:
        """A stage in another account gets the role its post-deploy `steps` assume there
        (stacks/pipeline_access.py); one in this account needs none. Added before the stage joins the
        pipeline, which synthesizes it then."""
        account = self.stage_accounts[stage.stage_name]
        if account == self.account:
            return
        self.access[stage.stage_name] = PipelineAccessStack(
            stage,
            "PipelineAccess",
            config=stage.config,
            pipeline_account=self.account,
            steps=steps,
            identity=stage.identity,
            runtime=stage.runtime,
            description=f"{stage.config.project} {stage.stage_name}: the pipeline's post-deploy steps",
        )

    def _rollout(self, stage: AgentCoreStage) -> pipelines.CodeBuildStep:
        """scripts/rollout.py on the stage's runtime (output RuntimeId): bake, then promote or roll back.

        Its role may read the stage's canary alarms and read and move the endpoints of the stage's runtime
        only."""
        config = stage.config
        return self._post_deploy(
            stage,
            ROLLOUT,
            f"Rollout-{stage.stage_name}",
            '.venv/bin/python scripts/rollout.py --runtime-id "$RUNTIME_ID"'
            f" --alarm-prefix {config.dns_name('canary-')} --bake-minutes {config.canary_bake_minutes}"
            f" --live-endpoint {config.endpoint_name}",
            outputs={"RUNTIME_ID": stage.runtime.outputs["RuntimeId"]},
            timeout=cdk.Duration.minutes(config.canary_bake_minutes + ROLLOUT_MARGIN_MINUTES),
        )

    def _evaluation(self, stage: AgentCoreStage) -> pipelines.CodeBuildStep:
        """scripts/evaluate.py against the stage, as a temporary customer it creates and deletes."""
        return self._post_deploy(
            stage,
            EVALUATE,
            f"Evaluate-{stage.stage_name}",
            ".venv/bin/python scripts/evaluate.py --report evaluation.json",
            outputs=self._outputs(stage, "INVOCATION_URL", "USER_CLIENT_ID", "USER_POOL_ID", "AWS_REGION"),
            timeout=cdk.Duration.minutes(30),
        )

    def _smoke_test(self, stage: AgentCoreStage) -> pipelines.CodeBuildStep:
        """scripts/smoke.py against the stage just deployed: auth is on, tools answer via the gateway.

        It reads the M2M client's secret to get a gateway token, as the agent's credential provider does,
        signs in as a temporary customer it creates and deletes (scripts/temporary_user.py), and checks that
        the stage's alarms watch metrics that exist."""
        return self._post_deploy(
            stage,
            SMOKE,
            f"SmokeTest-{stage.stage_name}",
            ".venv/bin/python scripts/smoke.py",
            outputs=self._outputs(stage, *STAGE_OUTPUTS),
            timeout=cdk.Duration.minutes(15),
        )

    @staticmethod
    def _outputs(stage: AgentCoreStage, *names: str) -> dict[str, cdk.CfnOutput]:
        """Environment variable -> the stage's output (names of STAGE_OUTPUTS)."""
        stacks = {
            "Runtime": stage.runtime,
            "Gateway": stage.gateway,
            "Identity": stage.identity,
            "Observability": stage.observability,
        }
        return {name: stacks[STAGE_OUTPUTS[name][0]].outputs[STAGE_OUTPUTS[name][1]] for name in names}

    def _post_deploy(
        self,
        stage: AgentCoreStage,
        step: str,
        step_id: str,
        command: str,
        *,
        outputs: dict[str, cdk.CfnOutput],
        timeout: cdk.Duration,
    ) -> pipelines.CodeBuildStep:
        """A post-deploy script with its own named role (stacks/pipeline_access.py names it). In this
        account the role holds the step's grants, matched by the stage's tags; for a stage in another
        account it may only assume that stage's steps role, whose ARN the script gets as
        AGENTCORE_STEP_ROLE_ARN (scripts/step_role.py)."""
        config, account = stage.config, self.stage_accounts[stage.stage_name]
        role = iam.Role(
            self.pipeline,
            f"{step_id}Role",
            role_name=step_role_name(config, step),
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
        )
        self.step_roles.append(role)
        env: dict[str, str] = {}
        if stage.stage_name in self.access:
            steps_role = env[STEP_ROLE_VARIABLE] = steps_role_arn(config, account, self.partition)
            statements = [iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[steps_role])]
        else:
            statements = tagged_statements(step, config, account, self.partition)
        return pipelines.CodeBuildStep(
            step_id,
            commands=["make install", command],
            env=env,
            env_from_cfn_outputs=outputs,
            role=role,
            role_policy_statements=statements,
            timeout=timeout,
        )
