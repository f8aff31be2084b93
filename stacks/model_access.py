"""Which model the agent calls and exactly what it may use for it: Bedrock, or OpenAI keyed by Identity.

Bedrock (`model_provider: bedrock`): InvokeModel on the configured model / inference profile ARNs.

OpenAI (`model_provider: openai`): the stage gets an AgentCore Identity API-key credential provider whose key
comes from a Secrets Manager secret the operator owns (`openai_api_key_secret_arn`). The template carries
only a CloudFormation dynamic reference to that secret (`{{resolve:secretsmanager:...}}`), resolved by
CloudFormation at deploy time and stored by AgentCore in its own managed secret; the key is never in the
template, the repository, the image or the container's environment. The runtime role may read exactly this
provider's key: `GetResourceApiKey` on the provider (plus the token vault and workload-identity directory the
call is authorized against) and `GetSecretValue` on the provider's own managed secret, nothing broader. The
L2 `grant_use` would allow every `bedrock-agentcore-identity!*` secret in the account, so it is not used.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.bedrock_models import INVOKE_ACTIONS, model_arns
from stacks.config import StageConfig


def api_key_provider(scope: Construct, config: StageConfig) -> agentcore.ApiKeyCredentialProvider | None:
    """The OpenAI key's provider when the stage uses OpenAI, else None (no provider is deployed)."""
    if not config.uses_openai or config.openai_api_key_secret_arn is None:
        return None
    return agentcore.ApiKeyCredentialProvider(
        scope,
        "OpenAiApiKey",
        api_key_credential_provider_name=config.dns_name("openai"),
        # A dynamic reference: CloudFormation resolves it at deploy time; the template holds only the ARN.
        api_key=cdk.SecretValue.secrets_manager(config.openai_api_key_secret_arn),
    )


def _managed_secret_arn(stack: cdk.Stack, provider: agentcore.ApiKeyCredentialProvider) -> str:
    """The secret AgentCore keeps this provider's key in: `bedrock-agentcore-identity!default/apikey/<name>`.

    CloudFormation exposes it only as the object attribute `ApiKeySecretArn` (not usable where an ARN
    belongs), so the ARN is built from the documented name; `-??????` is Secrets Manager's random suffix.
    """
    return stack.format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"bedrock-agentcore-identity!default/apikey/{provider.api_key_credential_provider_name}-??????",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )


def model_environment(
    config: StageConfig, provider: agentcore.ApiKeyCredentialProvider | None
) -> dict[str, str]:
    """The agent's model settings (MODEL_PROVIDER, MODEL_ID and, for OpenAI, the provider's name)."""
    if provider is None:
        return {"MODEL_PROVIDER": "bedrock", "MODEL_ID": config.model_id}
    return {
        "MODEL_PROVIDER": "openai",
        "MODEL_ID": str(config.openai_model_id),
        "OPENAI_API_KEY_PROVIDER": provider.api_key_credential_provider_name,
    }


def grant_model(
    agent: iam.IGrantable,
    config: StageConfig,
    provider: agentcore.ApiKeyCredentialProvider | None,
) -> None:
    """Exactly what calling the stage's model needs (see the module docstring)."""
    principal = agent.grant_principal
    if provider is None:
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(INVOKE_ACTIONS), resources=model_arns(config.model_id, config.region)
            )
        )
        return
    stack = cdk.Stack.of(principal) if isinstance(principal, Construct) else cdk.Stack.of(provider)

    def identity_arn(resource: str) -> str:
        return stack.format_arn(service="bedrock-agentcore", resource=resource)

    principal.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadTheModelApiKey",
            actions=["bedrock-agentcore:GetResourceApiKey"],
            resources=[
                provider.credential_provider_arn,
                identity_arn("token-vault/default"),
                identity_arn("workload-identity-directory/default"),
                identity_arn("workload-identity-directory/default/workload-identity/*"),
            ],
        )
    )
    principal.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadTheModelApiKeySecret",
            actions=["secretsmanager:GetSecretValue"],
            resources=[_managed_secret_arn(stack, provider)],
        )
    )
