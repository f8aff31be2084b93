"""The AgentCore Gateway of one stage: an MCP endpoint with semantic tool search over the Lambda tools,
and those tools (see tools_stack.py).

It accepts access tokens of the stage's user client (the agent forwards the signed-in user's token) and of
its M2M client (the agent's own identity, for what has no user). Each tool function becomes one target whose
schema is read from its `tools.json`; the gateway role may invoke exactly those functions.

Authorization, in three layers that each hold on their own:
- AgentCore Policy in ENFORCE mode: a Cedar policy engine (default deny) with one policy per
  `policies/*.cedar` file decides which principal may call which tool with which inputs;
- a REQUEST interceptor (`lambdas/interceptor`, given the request headers) writes the verified caller into
  each tool call's arguments, replacing whatever the model sent;
- the tool functions condition every read and write on that caller (see lambdas/orders, lambdas/inventory).
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from constructs import Construct

from policies.authorizer import policy_files, render
from stacks import compliance
from stacks.auth_function import auth_function
from stacks.config import StageConfig
from stacks.deploy_order import GATEWAY_TARGET_OPERATIONS, at_most_in_flight
from stacks.encryption import stage_key
from stacks.identity_stack import IdentityStack
from stacks.outputs import publish
from stacks.tool_schema import tool_schema
from stacks.tools_stack import ToolFunctions
from stacks.vended_logs import deliver_logs_and_traces

GATEWAY_KEY_ACTIONS = ("kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey")
INSTRUCTIONS = (
    "Tools for a retail support agent: orders (look up, list, update status, cancel) and inventory "
    "(search products, check and reserve stock). Search for the tools that fit the user's request "
    "before calling them; never guess order ids or SKUs, ask the user or list them."
)

# `fail`: AgentCore's Cedar analyzer refuses a policy with any finding (ALLOW_ALL, ALLOW_NONE, DENY_ALL,
# DENY_NONE, INVALID...: the control plane's Finding types), and CloudFormation fails the policy's creation
# with the analyzer's message (README "When AgentCore refuses a policy"). `ignore`: create it anyway (a
# stage whose policies are meant to be broad, e.g. an unconditional permit flagged ALLOW_ALL).
POLICY_VALIDATION = {
    "fail": agentcore.PolicyValidationMode.FAIL_ON_ANY_FINDINGS,
    "ignore": agentcore.PolicyValidationMode.IGNORE_ALL_FINDINGS,
}
CALLER_DIMENSION = "$.context.jwt.sub"  # a rate-limit dimension: the verified caller


class GatewayStack(cdk.Stack):
    """Gateway (MCP, SEMANTIC search, CUSTOM_JWT, KMS) with one target per tool function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        identity: IdentityStack,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.identity = identity
        self.tools = ToolFunctions(self, "Tools", config=config)
        self.key = stage_key(self, "Key", config, "gateway configuration at rest")
        name = config.dns_name("gateway")
        # Our own role: the L2's default trust adds an unconditioned statement for the service (confused
        # deputy); this one lets only this account's gateway of this name assume it.
        role = iam.Role(
            self,
            "GatewayRole",
            description=f"{name}: invoke the tool functions, use the gateway key",
            assumed_by=iam.ServicePrincipal(
                "bedrock-agentcore.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {
                        "aws:SourceArn": self.format_arn(
                            service="bedrock-agentcore", resource="gateway", resource_name=f"{name}*"
                        )
                    },
                },
            ),
        )
        self.interceptor = auth_function(
            self,
            "RequestInterceptor",
            config=config,
            source="interceptor",
            caller="The AgentCore Gateway",
            description="gateway REQUEST interceptor: the verified caller of every tool call",
            logs_key=self.tools.logs_key,
            environment={
                "TOKEN_ISSUER": identity.issuer,
                "USER_CLIENT_IDS": identity.user_client.user_pool_client_id,
                "MACHINE_CLIENT_IDS": identity.m2m_client.user_pool_client_id,
            },
        )
        self.policy_engine = agentcore.PolicyEngine(
            self,
            "PolicyEngine",
            policy_engine_name=config.resource_name("tools"),
            description=f"{config.project} {config.name}: who may call which tool (policies/*.cedar)",
            kms_key=self.key,
        )
        self.gateway = agentcore.Gateway(
            self,
            "Gateway",
            gateway_name=name,
            role=role,
            description=f"{config.project} {config.name}: MCP tools for the agent",
            protocol_configuration=agentcore.McpProtocolConfiguration(
                instructions=INSTRUCTIONS, search_type=agentcore.McpGatewaySearchType.SEMANTIC
            ),
            # Cognito user tokens carry no gateway scope, so clients, not scopes, are allow-listed.
            authorizer_configuration=agentcore.GatewayAuthorizer.using_custom_jwt(
                discovery_url=identity.discovery_url,
                allowed_clients=[
                    identity.user_client.user_pool_client_id,
                    identity.m2m_client.user_pool_client_id,
                ],
            ),
            interceptor_configurations=[
                agentcore.LambdaInterceptor.for_request(self.interceptor, pass_request_headers=True),
                # Flags a tool function's structured refusal as isError, as the gateway flags its own.
                agentcore.LambdaInterceptor.for_response(self.interceptor),
            ],
            policy_engine_configuration=agentcore.GatewayPolicyEngineConfig(
                policy_engine=self.policy_engine, mode=agentcore.PolicyEngineMode.ENFORCE
            ),
            kms_key=self.key,
            # Verbose errors help while developing; elsewhere they could leak internals to callers.
            exception_level=agentcore.GatewayExceptionLevel.DEBUG if config.gateway_debug_errors else None,
        )
        self.targets = {
            target: self.gateway.add_lambda_target(
                f"{target.title()}Target",
                gateway_target_name=target,
                description=f"Tools in lambdas/{target}/tools.json",
                lambda_function=function,
                tool_schema=tool_schema(target),
                credential_provider_configurations=[agentcore.GatewayCredentialProvider.from_iam_role()],
            )
            for target, function in self.tools.functions.items()
        }
        at_most_in_flight(list(self.targets.values()), GATEWAY_TARGET_OPERATIONS)
        # Tool calls per verified caller (the JWT's `sub`) and minute: a runaway loop of one user cannot use
        # up the gateway's 200 TPS for everyone. Tokens are the agent's budget (token_budget.py): the model
        # is not behind this gateway, so the gateway never sees them.
        self.rate_limit = agentcore.CfnGatewayRateLimit(
            self,
            "CallsPerCaller",
            gateway_identifier=self.gateway.gateway_id,
            description="Tool calls per caller (JWT sub) and minute",
            dimension_keys=[CALLER_DIMENSION],
            entries=[
                agentcore.CfnGatewayRateLimit.LimitEntryProperty(
                    dimensions={CALLER_DIMENSION: "*"},
                    requests=[
                        agentcore.CfnGatewayRateLimit.RateConfigProperty(
                            period="minute", rate=config.gateway_calls_per_caller_per_minute
                        )
                    ],
                )
            ],
        )
        # One AgentCore policy per file; created after the targets, whose tools make up its Cedar schema.
        self.policies = {
            name: self.policy_engine.add_policy(
                f"{name.title().replace('_', '')}Policy",
                policy_name=name,
                description=f"policies/{name}.cedar",
                statement=agentcore.PolicyStatement.from_cedar(render(text, self.gateway.gateway_arn)),
                validation_mode=POLICY_VALIDATION[config.policy_validation],
            )
            for name, text in policy_files().items()
        }
        for policy in self.policies.values():
            for target in self.targets.values():
                policy.node.add_dependency(target)
        # With its own role the gateway needs what AWS documents for a customer-managed gateway key (the
        # L2 grants it only to the role it creates), and that policy must exist before the gateway does.
        self.key.grant(role, *GATEWAY_KEY_ACTIONS)
        self.gateway.node.add_dependency(role.node.find_child("DefaultPolicy"))
        compliance.acknowledge_policy(role)
        self.log_group = deliver_logs_and_traces(
            Construct(self, "Observability"),
            config,
            self.tools.logs_key,
            component="gateway",
            resource_arn=self.gateway.gateway_arn,
        )
        self.outputs = publish(
            self,
            {
                "GatewayUrl": (self.gateway.gateway_url, "MCP endpoint"),
                "GatewayId": (self.gateway.gateway_id, "AgentCore Gateway id"),
                **{
                    f"{target.title()}FunctionName": (
                        function.function_name,
                        f"Lambda behind target '{target}'",
                    )
                    for target, function in self.tools.functions.items()
                },
                **{
                    f"{target.title()}TableName": (table.table_name, f"Data of target '{target}'")
                    for target, table in self.tools.tables.items()
                },
            },
        )

    @property
    def agent_environment(self) -> Mapping[str, str]:
        """Where the agent finds its tools and how it gets a token for them (see agentcore_agent.settings)."""
        return {
            "GATEWAY_URL": self.gateway.gateway_url,
            "GATEWAY_CREDENTIAL_PROVIDER": self.identity.gateway_credentials_name,
            "GATEWAY_SCOPES": " ".join(self.identity.m2m_scopes),
        }

    def grant_to_agent(self, agent: iam.IGrantable) -> None:
        """Nothing to grant: a deployed agent always has auth on, so it forwards each caller's access token
        and never fetches its M2M token (gateway_client.py); the Token Vault stays closed to the runtime role.
        The gateway itself checks the token."""
