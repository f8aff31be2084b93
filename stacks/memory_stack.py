"""AgentCore Memory for one stage: short-term events plus three long-term extraction strategies.

Namespaces are defined here once and handed to the agent through its environment, so the places the
service writes long-term records and the places the agent reads them can never drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks import compliance
from stacks.config import StageConfig
from stacks.encrypted_logs import logs_key
from stacks.encryption import removal_policy, stage_key
from stacks.outputs import publish
from stacks.vended_logs import deliver_logs_and_traces

# Long-term record namespaces, keyed by what they hold; `{actorId}` isolates users from each other.
NAMESPACES: Mapping[str, str] = {
    "facts": "/facts/{actorId}",
    "preferences": "/preferences/{actorId}",
    "summaries": "/summaries/{actorId}/{sessionId}",
}
# Exactly the data-plane calls of agentcore_agent/memory_hooks.py (tests/stacks/test_memory_stack.py reads
# them from the source): load the last turns, retrieve long-term records, write each turn's event.
AGENT_MEMORY_ACTIONS = (
    "bedrock-agentcore:CreateEvent",
    "bedrock-agentcore:ListEvents",
    "bedrock-agentcore:RetrieveMemoryRecords",
)


class MemoryStack(cdk.Stack):
    """Owns the stage's Memory and its key (stateful: RETAIN when the stage retains)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.key = stage_key(self, "Key", config, "conversation events and long-term records at rest")
        self.memory = agentcore.Memory(
            self,
            "Memory",
            memory_name=config.resource_name("memory"),
            description=f"{config.project} {config.name}: the agent's short- and long-term memory",
            expiration_duration=cdk.Duration.days(config.memory_event_expiry_days),
            kms_key=self.key,
            memory_strategies=[
                agentcore.MemoryStrategy.using_semantic(
                    strategy_name="facts",
                    description="Facts the user stated, kept per user",
                    namespaces=[NAMESPACES["facts"]],
                ),
                agentcore.MemoryStrategy.using_user_preference(
                    strategy_name="preferences",
                    description="The user's stated and implied preferences, kept per user",
                    namespaces=[NAMESPACES["preferences"]],
                ),
                agentcore.MemoryStrategy.using_summarization(
                    strategy_name="summaries",
                    description="A running summary of each conversation",
                    namespaces=[NAMESPACES["summaries"]],
                ),
            ],
        )
        self.memory.node.find_child("Memory").apply_removal_policy(removal_policy(config))
        compliance.acknowledge_policy(self.memory.execution_role)
        self.log_group = deliver_logs_and_traces(
            Construct(self, "Observability"),
            config,
            logs_key(self, "LogsKey", config, "memory logs"),
            component="memory",
            resource_arn=self.memory.memory_arn,
        )
        self.outputs = publish(
            self,
            {
                "MemoryId": (self.memory.memory_id, "AgentCore Memory id"),
                "MemoryArn": (self.memory.memory_arn, "AgentCore Memory ARN"),
            },
        )

    @property
    def agent_environment(self) -> Mapping[str, str]:
        """Settings the agent's memory hooks read (see agentcore_agent.settings)."""
        return {
            "MEMORY_ID": self.memory.memory_id,
            "MEMORY_NAMESPACES": json.dumps(dict(NAMESPACES), separators=(",", ":")),
            "MEMORY_LAST_K_TURNS": str(self.config.memory_last_k_turns),
            "MEMORY_TOP_K": str(self.config.memory_top_k),
        }

    def grant_to_agent(self, agent: iam.IGrantable) -> None:
        """Only the calls the agent makes, on this memory; never delete, list or administer."""
        self.memory.grant(agent, *AGENT_MEMORY_ACTIONS)
