"""Which model the agent calls and exactly what it may use for it: Bedrock, or OpenAI keyed by Identity.

Bedrock (`model_provider: bedrock`): InvokeModel on the configured model / inference profile ARNs.

OpenAI (`model_provider: openai`): the stage gets an AgentCore Identity API-key credential provider that
REFERENCES the Secrets Manager secret the operator owns (`openai_api_key_secret_arn`, a JSON secret whose
`openai_api_key_secret_json_key` field holds the key): `ApiKeySecretSource: EXTERNAL` with
`ApiKeySecretConfig {SecretId, JsonKey}` (the CloudFormation schema of the provider; botocore's
`CreateApiKeyCredentialProvider`: the config is "required when apiKeySecretSource is set to EXTERNAL"). So
there is one copy of the key, under the operator's rotation, tags and KMS key, and it is never in the
template, the repository, the image or the container's environment. (MANAGED, the other source, copies the
key into AgentCore's own `bedrock-agentcore-identity!...` secret.) The runtime role may read exactly this
provider's key: `GetResourceApiKey` on the provider (plus the token vault and workload-identity directory the
call is authorized against), `GetSecretValue` on the operator's secret alone and, when the secret has a
customer-managed key (`openai_api_key_secret_kms_key_arn`), `kms:Decrypt` on that key only through Secrets
Manager. The L2 `grant_use` would allow every `bedrock-agentcore-identity!*` secret in the account, so it is
not used. Needs a deploy to confirm: that AgentCore reads an EXTERNAL secret with the caller's credentials
(as it does its managed one, whence these grants) rather than needing the secret's resource policy to name it.
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
    provider = agentcore.ApiKeyCredentialProvider(
        scope, "OpenAiApiKey", api_key_credential_provider_name=config.dns_name("openai")
    )
    # The L2 (aws-cdk-lib 2.275) offers only `api_key` (MANAGED: a copy); the L1 has the external source.
    resource: agentcore.CfnApiKeyCredentialProvider = provider.node.default_child  # type: ignore[assignment]
    resource.api_key_secret_source = "EXTERNAL"
    resource.api_key_secret_config = agentcore.CfnApiKeyCredentialProvider.SecretReferenceProperty(
        secret_id=config.openai_api_key_secret_arn, json_key=config.openai_api_key_secret_json_key
    )
    return provider


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
            resources=[str(config.openai_api_key_secret_arn)],
        )
    )
    if config.openai_api_key_secret_kms_key_arn:
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DecryptTheModelApiKeySecret",
                actions=["kms:Decrypt"],
                resources=[config.openai_api_key_secret_kms_key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{config.region}.amazonaws.com"}
                },
            )
        )
