"""Inbound identity for one stage: the Cognito user pool, its domain, scopes and the two app clients.

Users log in with the user client (no secret; USER_PASSWORD_AUTH/SRP for the CLI invoke flow) and call the
Runtime. The agent reaches the Gateway as a machine with the M2M client (client_credentials + scopes).
Cognito access tokens carry no `aud`, so consumers authorize by client id (`allowed_clients`).

Binding users to data: an administrator links a user to a customer through the `custom:customer_id`
attribute (the user client can read it but not write it) or makes them an operator (group `operators`).
A pre-token-generation trigger (event V3, needs the Essentials or Plus feature plan) turns that into the
access-token claims `role` and `customer_id`, which the gateway's Cedar policies and its interceptor act on;
V3 (not V2) so the machine client's client-credentials tokens get their `role: service` claim too.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from stacks import compliance
from stacks.auth_function import auth_function
from stacks.config import StageConfig
from stacks.encrypted_logs import logs_key
from stacks.encryption import removal_policy
from stacks.model_access import api_key_provider
from stacks.outputs import publish

GATEWAY_SCOPE = "invoke"
CUSTOMER_ATTRIBUTE = "customer_id"  # custom:customer_id
OPERATOR_GROUP = "operators"
# Tags the stage's user pool with its name, so a role outside the stage (the pipeline's smoke test) can be
# limited to this pool while its id exists only after deployment (aws:ResourceTag on the userpool resource).
POOL_TAG = "agentcore:user-pool"


def pool_tag_value(config: StageConfig) -> str:
    """The value of `POOL_TAG` on the stage's user pool: the pool's name (unique per project and stage)."""
    return config.dns_name("users")


class IdentityStack(cdk.Stack):
    """Owns the stage's user pool (stateful: RETAIN and deletion protection when the stage retains)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=pool_tag_value(config),
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=cdk.Duration.days(3),
            ),
            mfa=cognito.Mfa.REQUIRED if config.mfa == "required" else cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            feature_plan=cognito.FeaturePlan.PLUS,
            custom_attributes={
                CUSTOMER_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=64, mutable=True),
            },
            standard_threat_protection_mode=(
                cognito.StandardThreatProtectionMode.FULL_FUNCTION
                if config.threat_protection == "enforced"
                else cognito.StandardThreatProtectionMode.AUDIT_ONLY
            ),
            deletion_protection=config.is_retained,
            removal_policy=removal_policy(config),
        )
        cdk.Tags.of(self.user_pool).add(POOL_TAG, pool_tag_value(config))
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                # Prefixes are global per region: the account id keeps two accounts' stages apart.
                domain_prefix=f"{config.dns_name('auth')}-{cdk.Aws.ACCOUNT_ID}",
            ),
        )
        self.gateway_scope = cognito.ResourceServerScope(
            scope_name=GATEWAY_SCOPE, scope_description="Call the stage's AgentCore Gateway tools"
        )
        self.resource_server = self.user_pool.add_resource_server(
            "GatewayResourceServer",
            identifier=config.dns_name("gateway"),
            scopes=[self.gateway_scope],
        )
        self.operator_group = cognito.CfnUserPoolGroup(
            self,
            "OperatorsGroup",
            user_pool_id=self.user_pool.user_pool_id,
            group_name=OPERATOR_GROUP,
            description="Support operators: act on every customer's orders (policies/operators.cedar)",
        )
        self.logs_key = logs_key(self, "LogsKey", config, "identity trigger logs")
        self.pre_token_trigger = auth_function(
            self,
            "PreTokenTrigger",
            config=config,
            source="pre_token",
            caller="Cognito",
            description="pre-token-generation trigger: role and customer_id claims (users and machines)",
            logs_key=self.logs_key,
            environment={"OPERATOR_GROUP": OPERATOR_GROUP},
        )
        self.user_pool.add_trigger(
            cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
            self.pre_token_trigger,
            cognito.LambdaVersion.V3_0,  # V3: client-credentials tokens too (lambdas/pre_token)
        )
        token_validity = cdk.Duration.minutes(config.access_token_minutes)
        self.user_client = self.user_pool.add_client(
            "UserClient",
            user_pool_client_name=config.dns_name("user-cli"),
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            access_token_validity=token_validity,
            id_token_validity=token_validity,
            enable_token_revocation=True,
            # Users may read their customer binding but never write it (only admin APIs can).
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True, preferred_username=True)
            .with_custom_attributes(CUSTOMER_ATTRIBUTE),
            write_attributes=cognito.ClientAttributes().with_standard_attributes(preferred_username=True),
        )
        self.m2m_client = self.user_pool.add_client(
            "MachineClient",
            user_pool_client_name=config.dns_name("agent-m2m"),
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[cognito.OAuthScope.resource_server(self.resource_server, self.gateway_scope)],
            ),
            access_token_validity=token_validity,
            prevent_user_existence_errors=True,
        )
        # An empty AuthFlow() renders no ExplicitAuthFlows, and Cognito then allows refresh, SRP and custom
        # auth; client_credentials is an OAuth grant, not an explicit flow, so the machine needs none of them.
        self.m2m_client.node.default_child.add_property_override("ExplicitAuthFlows", [])  # type: ignore[union-attr]
        self.m2m_scopes = [f"{config.dns_name('gateway')}/{GATEWAY_SCOPE}"]
        self.issuer = f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool.user_pool_id}"
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"
        self.token_endpoint = f"{self.domain.base_url()}/oauth2/token"
        # AgentCore Identity keeps the M2M client secret in its Token Vault; the agent asks it for tokens,
        # so the secret is never in the container, its environment or this template.
        provider = agentcore.OAuth2CredentialProvider.using_cognito(
            self,
            "GatewayCredentials",
            o_auth2_credential_provider_name=config.dns_name("gateway-m2m"),
            client_id=self.m2m_client.user_pool_client_id,
            client_secret=self.m2m_client.user_pool_client_secret,
            issuer=self.issuer,
            token_endpoint=self.token_endpoint,
            authorization_endpoint=f"{self.domain.base_url()}/oauth2/authorize",
        )
        self.gateway_credentials = provider
        cdk.Annotations.of(provider).acknowledge_warning(
            "aws-cdk-lib.aws-bedrockagentcore:wildcardSecretArnGrant",
            "Accepted for the runtime role (see its entry in stacks/iam_wildcards.toml): the grant is "
            "limited to AgentCore Identity's own secret prefix.",
        )
        self._acknowledge()
        self.gateway_credentials_name = provider.o_auth2_credential_provider_name
        # The OpenAI key's Token Vault entry, only for a stage that uses OpenAI (see model_access.py).
        self.model_api_key = api_key_provider(self, config)

        self.outputs = publish(
            self,
            {
                "UserPoolId": (self.user_pool.user_pool_id, "Cognito user pool id"),
                "DiscoveryUrl": (
                    self.discovery_url,
                    "OIDC discovery URL used by the Runtime and Gateway authorizers",
                ),
                "UserClientId": (
                    self.user_client.user_pool_client_id,
                    "App client for people (CLI invoke flow)",
                ),
                "MachineClientId": (self.m2m_client.user_pool_client_id, "App client for the agent (M2M)"),
                "TokenEndpoint": (self.token_endpoint, "OAuth2 token endpoint (client_credentials)"),
                "OperatorGroup": (OPERATOR_GROUP, "Cognito group whose members act as operators"),
                "Region": (self.region, "Region of this stage"),
            },
        )

    def _acknowledge(self) -> None:
        """The client-secret lookup (an AwsCustomResource) and optional MFA outside production."""
        compliance.acknowledge_aws_custom_resources(self)
        compliance.acknowledge_custom_resource_policy(
            self.m2m_client.node.find_child("DescribeCognitoUserPoolClient")
        )
        if self.config.mfa == "optional":
            compliance.acknowledge(
                self.user_pool.node.default_child,
                "AwsSolutions-COG2",
                "MFA is optional only in stages configured with mfa=optional (non-production), so smoke "
                "tests and developers can log in from the CLI; TOTP is offered, and prod requires MFA.",
            )
