"""The agent's home: ECR repository, arm64 image built at deploy time, the AgentCore Runtime and its endpoint,
plus the stage's custom Browser and Code Interpreter the agent may use.

Under the pipeline (`agentcore:image`, stacks/agent_image.py) the stage builds nothing and has no repository:
its Runtime runs the pipeline's one build, by digest, pulled from the pipeline's repository.

The image is built for linux/arm64 (AgentCore runs nothing else) by CodeBuild during `cdk deploy`, so neither
synth nor deploy needs local Docker. A build runs only when the agent's source changes; its tag starts with
the source's content hash and is unique (the repository's tags are immutable), so the runtime rolls to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from cdklabs.deploy_time_build import ContainerImageBuild
from constructs import Construct

from stacks import compliance
from stacks.agent_image import PinnedImage, image_repository
from stacks.browser_recordings import grant_recording, recording_bucket, recording_config
from stacks.config import CANARY_ENDPOINT, StageConfig
from stacks.encrypted_logs import encrypted_log_group, logs_key
from stacks.encryption import removal_policy, stage_key
from stacks.identity_stack import IdentityStack
from stacks.model_access import grant_model, model_environment
from stacks.online_evaluation import OnlineEvaluation
from stacks.outputs import publish
from stacks.vended_logs import chain_deliveries, vended_log_group_name

AGENT_SOURCE = Path(__file__).resolve().parent.parent / "agent_src"
# Local state that is not part of the image (also in agent_src/.dockerignore).
IMAGE_EXCLUDE = [".venv", "**/__pycache__", "**/*.pyc", ".agentcore.json"]
# Headers the runtime passes through to the container; the agent derives the actor from the bearer token.
ALLOWED_HEADERS = ("Authorization",)
# Unless a stage opts in (`trace_content`), spans carry no prompts, answers, memory records or tool data:
# Strands redacts its gen_ai.* content attributes (an empty allow-list) and ADOT's Bedrock instrumentation
# captures no message content.
REDACT_TRACE_CONTENT = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_unredacted_attributes=",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false",
}


def source_fingerprint() -> str:
    """CDK's own content hash of the agent's build context (what the asset hash is made of)."""
    return cdk.FileSystem.fingerprint(str(AGENT_SOURCE), exclude=IMAGE_EXCLUDE)[:16]


class AgentCapability(Protocol):
    """A stack the agent uses (memory, gateway): it names its settings and grants the agent what it needs."""

    @property
    def agent_environment(self) -> Mapping[str, str]: ...

    def grant_to_agent(self, agent: iam.IGrantable) -> None: ...


class RuntimeStack(cdk.Stack):
    """ECR + image build + Runtime (+ `live` endpoint, and `canary` when on) + Browser + Code Interpreter
    for one stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        identity: IdentityStack,
        capabilities: Sequence[AgentCapability] = (),
        image: PinnedImage | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.pinned_image = image
        self.service_name = config.dns_name("agent")  # the spans' `service.name` (OTEL_SERVICE_NAME)
        self.artifact = self._pinned_artifact(image) if image else self._built_artifact()
        self.recordings = recording_bucket(self, config)
        self.browser = agentcore.BrowserCustom(
            self,
            "Browser",
            browser_custom_name=config.resource_name("browser"),
            description=f"{config.name}: isolated browser for the agent",
            recording_config=recording_config(self.recordings),
        )
        grant_recording(self.recordings, self.browser)
        self.code_interpreter = agentcore.CodeInterpreterCustom(
            self,
            "CodeInterpreter",
            code_interpreter_custom_name=config.resource_name("code"),
            description=f"{config.name}: sandboxed code execution for the agent (no network)",
            network_configuration=agentcore.CodeInterpreterNetworkConfiguration.using_sandbox_network(),
        )
        self.log_group = encrypted_log_group(
            self,
            "VendedLogs",
            config,
            logs_key(self, "LogsKey", config, "runtime logs"),
            name=vended_log_group_name(config, "runtime"),
        )
        self.runtime = agentcore.Runtime(
            self,
            "Runtime",
            runtime_name=config.resource_name("agent"),
            description=f"{config.project} {config.name}: the sample Strands agent",
            agent_runtime_artifact=self.artifact,
            authorizer_configuration=agentcore.RuntimeAuthorizerConfiguration.using_jwt(
                identity.discovery_url,
                # Cognito access tokens carry `client_id`, not `aud`: authorize by client.
                allowed_clients=[identity.user_client.user_pool_client_id],
            ),
            request_header_configuration=agentcore.RequestHeaderConfiguration(
                allowlisted_headers=list(ALLOWED_HEADERS)
            ),
            lifecycle_configuration=agentcore.LifecycleConfiguration(
                idle_runtime_session_timeout=cdk.Duration.seconds(config.idle_timeout_seconds),
                max_lifetime=cdk.Duration.seconds(config.max_lifetime_seconds),
            ),
            environment_variables=self._environment(identity, capabilities),
            tracing_enabled=True,
            logging_configs=[
                agentcore.LoggingConfig(
                    log_type=log_type,
                    destination=agentcore.LoggingDestination.cloud_watch_logs(self.log_group),
                )
                for log_type in (agentcore.LogType.APPLICATION_LOGS, agentcore.LogType.USAGE_LOGS)
            ],
            # Same-account /aws/vendedlogs/ delivery needs no Logs resource policy (10 per account); the
            # X-Ray policy for traces is created once per account (account_stack.py).
            manage_delivery_resource_policy=False,
        )
        self._refuse_user_id_tokens()
        if image:
            self._grant_pinned_pull(image)
        grant_model(self.runtime, config, identity.model_api_key)
        for capability in capabilities:
            capability.grant_to_agent(self.runtime)
        self.browser.grant_use(self.runtime)
        self.code_interpreter.grant_use(self.runtime)
        self.endpoint = self.runtime.add_endpoint(
            config.endpoint_name, description=f"{config.name}: the endpoint clients call"
        )
        self.invocation_url = self._invocation_url(config.endpoint_name)
        self.canary_endpoint = self._canary_endpoint() if config.canary else None
        self.outputs = publish(
            self,
            {
                "RuntimeArn": (self.runtime.agent_runtime_arn, "AgentCore Runtime ARN"),
                "RuntimeEndpointArn": (
                    self.endpoint.agent_runtime_endpoint_arn,
                    "Named runtime endpoint ARN",
                ),
                "RuntimeEndpointName": (config.endpoint_name, "Qualifier clients pass when invoking"),
                "InvocationUrl": (
                    self.invocation_url,
                    "HTTPS URL to POST prompts to (bearer token required)",
                ),
                **(
                    {"ImageUri": (image.uri, "The pipeline's agent image this stage runs (by digest)")}
                    if image
                    else {"RepositoryUri": (self.repository.repository_uri, "ECR repository of the image")}
                ),
                "Region": (self.region, "Region of this stage"),
                "RuntimeId": (self.runtime.agent_runtime_id, "AgentCore Runtime id (scripts/rollout.py)"),
                **(
                    {
                        "CanaryEndpointName": (CANARY_ENDPOINT, "Qualifier of the canary endpoint"),
                        "CanaryPercent": (
                            str(config.canary_percent),
                            "Share of new sessions callers send to the canary endpoint (docs/CANARY.md)",
                        ),
                    }
                    if config.canary
                    else {}
                ),
            },
        )
        self.evaluation = (
            OnlineEvaluation(
                self, "OnlineEvaluation", config=config, runtime=self.runtime, endpoint=self.endpoint,
                service_name=self.service_name,
            )
            if config.online_evaluation
            else None
        )  # fmt: skip
        # The canary's sessions are scored apart: each endpoint has its own log group (docs/CANARY.md).
        self.canary_evaluation = (
            OnlineEvaluation(
                self, "CanaryEvaluation", config=config, runtime=self.runtime, endpoint=self.canary_endpoint,
                service_name=self.service_name, variant=CANARY_ENDPOINT,
            )
            if config.online_evaluation and self.canary_endpoint
            else None
        )  # fmt: skip
        chain_deliveries(self.runtime)  # traces and the two log types, one after another
        compliance.acknowledge_policy(self.runtime)
        if image is None and config.image_build == "codebuild":
            self._acknowledge_image_build()

    def _invocation_url(self, qualifier: str) -> str:
        return (
            f"https://bedrock-agentcore.{self.region}.amazonaws.com/runtimes/"
            f"arn%3A{self.partition}%3Abedrock-agentcore%3A{self.region}%3A{self.account}"
            f"%3Aruntime%2F{self.runtime.agent_runtime_id}/invocations?qualifier={qualifier}"
        )

    def _canary_endpoint(self) -> agentcore.RuntimeEndpoint:
        """The `canary` endpoint beside the one clients call. Neither declares a version nor a description:
        scripts/rollout.py owns both (its state). The L2 would pin both endpoints to the Runtime's newest
        version (`AgentRuntimeVersion: GetAtt Runtime.AgentRuntimeVersion`), so every deploy would move all
        sessions at once; undeclared, CloudFormation neither moves them nor reports the controller's moves as
        drift (drift detection checks declared properties only). docs/CANARY.md."""
        canary = self.runtime.add_endpoint(CANARY_ENDPOINT)
        for endpoint in (self.endpoint, canary):
            for owned_by_rollout in ("AgentRuntimeVersion", "Description"):
                endpoint.node.default_child.add_property_deletion_override(owned_by_rollout)
        return canary

    def _refuse_user_id_tokens(self) -> None:
        """The L2 allows all three workload-token actions; callers are authorized by JWT, so AgentCore
        mints its workload tokens with GetWorkloadAccessTokenForJWT, and the agent never asks for a token
        for an arbitrary user id. The L2 statement cannot be edited, so an explicit Deny removes that one."""
        directory = (
            f"arn:{self.partition}:bedrock-agentcore:{self.region}:{self.account}"
            ":workload-identity-directory/default"
        )
        self.runtime.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="NoWorkloadTokensForUserIds",
                effect=iam.Effect.DENY,
                actions=["bedrock-agentcore:GetWorkloadAccessTokenForUserId"],
                resources=[directory, f"{directory}/workload-identity/*"],
            )
        )

    def _pinned_artifact(self, image: PinnedImage) -> agentcore.AgentRuntimeArtifact:
        """The pipeline's build, by digest; the role may pull from the pipeline's repository only (granted
        once the Runtime exists, in `_grant_pinned_pull`)."""
        return agentcore.AgentRuntimeArtifact.from_image_uri(image.uri)

    def _grant_pinned_pull(self, image: PinnedImage) -> None:
        repository = ecr.Repository.from_repository_attributes(
            self,
            "PipelineRepository",
            repository_arn=image.repository_arn(self.partition),
            repository_name=image.repository_name,
        )
        repository.grant_pull(self.runtime)

    def _built_artifact(self) -> agentcore.AgentRuntimeArtifact:
        """linux/arm64 image into this stage's repository: CodeBuild at deploy time by default, local Docker
        when configured."""
        config = self.config
        self.key = stage_key(self, "Key", config, "agent images at rest")
        self.repository = image_repository(
            self,
            "Repository",
            key=self.key,
            keep=config.ecr_keep_images,
            removal_policy=removal_policy(config),
            empty_on_delete=not config.is_retained,
        )
        if config.image_build == "docker":
            return agentcore.AgentRuntimeArtifact.from_asset(
                str(AGENT_SOURCE), platform=ecr_assets.Platform.LINUX_ARM64
            )
        self.image = ContainerImageBuild(
            self,
            "Image",
            directory=str(AGENT_SOURCE),
            platform=ecr_assets.Platform.LINUX_ARM64,
            repository=self.repository,
            exclude=IMAGE_EXCLUDE,
            # `<content hash>-<unique suffix>`: names the source the image was built from, while a rebuild of
            # the same source (e.g. after a library upgrade) never collides with an immutable tag.
            tag_prefix=f"{source_fingerprint()}-",
        )
        return agentcore.AgentRuntimeArtifact.from_ecr_repository(self.repository, self.image.image_tag)

    def _acknowledge_image_build(self) -> None:
        """The deploy-time build (cdklabs deploy-time-build): its handler, CodeBuild project and role."""
        compliance.acknowledge_provider_function(
            compliance.child(self, "DeployTimeBuildCustomResourceHandler")
        )
        project = compliance.child(self, "ContainerImageBuild")
        compliance.acknowledge(
            project.node.default_child,
            "AwsSolutions-CB4",
            "The build produces no artifacts (the image goes to this stage's KMS-encrypted ECR repository); "
            "CodeBuild encrypts its logs and cache with the AWS managed key.",
        )
        role = project.node.find_child("Role")
        compliance.acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "AmazonElasticContainerRegistryPublicReadOnly]",
            "The image build pulls public base images from ECR Public; the managed policy is read-only.",
        )
        compliance.acknowledge_policy(role)

    def _environment(
        self, identity: IdentityStack, capabilities: Sequence[AgentCapability]
    ) -> dict[str, str]:
        """The agent's settings (see agent_src/agentcore_agent/settings.py for their meaning)."""
        environment = {
            "AWS_DEFAULT_REGION": self.region,
            **model_environment(self.config, identity.model_api_key),
            "OIDC_DISCOVERY_URL": identity.discovery_url,
            "ALLOWED_CLIENTS": identity.user_client.user_pool_client_id,
            "MAX_PROMPT_CHARS": str(self.config.max_prompt_chars),
            "BROWSER_ID": self.browser.browser_id,
            # The browser tool is on only for a stage that names the sites it may open.
            **(
                {"BROWSER_ALLOWED_DOMAINS": ",".join(self.config.browser_allowed_domains)}
                if self.config.browser_allowed_domains
                else {}
            ),
            "CODE_INTERPRETER_ID": self.code_interpreter.code_interpreter_id,
            "OTEL_SERVICE_NAME": self.service_name,
            **({} if self.config.trace_content else REDACT_TRACE_CONTENT),
        }
        for capability in capabilities:
            environment.update(capability.agent_environment)
        return environment
