"""One deployment stage: builds its stacks and passes typed references between them."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.account_stack import AccountStack
from stacks.agent_image import PinnedImage
from stacks.config import StageConfig
from stacks.gateway_stack import GatewayStack
from stacks.identity_stack import IdentityStack
from stacks.memory_stack import MemoryStack
from stacks.observability_stack import ObservabilityStack
from stacks.runtime_stack import RuntimeStack
from stacks.spend_guards import STAGE_TAG, stage_tag_value
from stacks.trust_policies import apply as condition_service_roles
from stacks.usage_stack import UsageStack


class AgentCoreStage(cdk.Stage):
    """Every stack of a stage; stack names carry the stage (`dev-Identity`), so `cdk deploy 'dev/*'` works."""

    def __init__(self, scope: Construct, config: StageConfig, *, image: PinnedImage | None = None) -> None:
        # Region is pinned (model ARNs and the AgentCore region check depend on it); with no account the
        # stacks stay account-agnostic and take the account from the deploying credentials.
        super().__init__(
            scope, config.name, env=cdk.Environment(account=config.account, region=config.region)
        )
        self.config = config
        # Every resource carries its stage (AWS Budgets filters the stage's cost on it: spend_guards.py).
        cdk.Tags.of(self).add(STAGE_TAG, stage_tag_value(config))
        condition_service_roles(self)
        self.identity = IdentityStack(
            self, "Identity", config=config, description=self._describe("Cognito identity")
        )
        self.gateway = GatewayStack(
            self,
            "Gateway",
            config=config,
            identity=self.identity,
            description=self._describe("MCP gateway and its Lambda tools"),
        )
        self.memory = MemoryStack(self, "Memory", config=config, description=self._describe("agent memory"))
        self.usage = UsageStack(self, "Usage", config=config, description=self._describe("token usage"))
        self.runtime = RuntimeStack(
            self,
            "Runtime",
            config=config,
            identity=self.identity,
            capabilities=[self.memory, self.gateway, self.usage],
            image=image,
            description=self._describe("agent runtime"),
        )
        self.observability = ObservabilityStack(
            self,
            "Observability",
            config=config,
            runtime=self.runtime,
            gateway=self.gateway,
            memory=self.memory,
            description=self._describe("dashboard and alarms"),
        )
        self.account_resources: AccountStack | None = None
        if config.owns_account_resources:
            self.account_resources = AccountStack(
                self, "Account", config=config, description=self._describe("account-wide observability")
            )
            # Trace deliveries need the X-Ray policy first, or AWS creates an unmanaged one of its own.
            for stack in (self.gateway, self.memory, self.runtime):
                stack.add_stack_dependency(self.account_resources)

    def _describe(self, what: str) -> str:
        return f"{self.config.project} {self.config.name}: {what}"
