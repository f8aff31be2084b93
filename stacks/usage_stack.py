"""Token usage per caller and day: the table behind the agent's token budgets (agentcore_agent.token_budget).

Stateful (what each caller has spent today), so a stack of its own, retained with the stage's data. Items
expire by TTL two days after their day; nothing else reads them, so no stream, no index. Point-in-time
recovery is off: a lost day of counters costs at most one day's budget, and PITR would bill for every write
of every turn.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks import compliance
from stacks.config import StageConfig
from stacks.encryption import removal_policy, stage_key
from stacks.outputs import publish

# The agent reads one item and replaces it conditionally (optimistic concurrency); it never scans or deletes.
AGENT_USAGE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")
AGENT_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")
TTL_ATTRIBUTE = "expires_at"


class UsageStack(cdk.Stack):
    """The token-usage table (KMS) of one stage, offered to the agent as a capability."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.key = stage_key(self, "Key", config, "token usage at rest")
        self.table = dynamodb.TableV2(
            self,
            "TokenUsage",
            partition_key=dynamodb.Attribute(name="usage_key", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(self.key),
            deletion_protection=config.is_retained,
            removal_policy=removal_policy(config),
        )
        compliance.acknowledge(
            self.table,
            "AwsSolutions-DDB3",
            "Daily token counters that expire after two days: losing them costs at most one day's budget, "
            "and point-in-time recovery would bill every write of every turn.",
        )
        self.outputs = publish(self, {"TokenUsageTable": (self.table.table_name, "Token usage per caller")})

    @property
    def agent_environment(self) -> Mapping[str, str]:
        """Settings the agent's token budget reads (see agentcore_agent.settings)."""
        return {
            "TOKEN_BUDGET_TABLE": self.table.table_name,
            "TOKEN_BUDGET_USER": str(self.config.token_budget_per_user_per_day),
            "TOKEN_BUDGET_OPERATOR": str(self.config.token_budget_per_operator_per_day),
            "TOKEN_BUDGET_MACHINE": str(self.config.token_budget_per_machine_per_day),
        }

    def grant_to_agent(self, agent: iam.IGrantable) -> None:
        """Read and conditionally replace usage items, through DynamoDB's use of the table's key (the
        exact actions, not the L2's encrypt/decrypt grant with its GenerateDataKey*/ReEncrypt* families)."""
        self.table.grant(agent, *AGENT_USAGE_ACTIONS)
        self.key.grant(agent, *AGENT_KEY_ACTIONS)
