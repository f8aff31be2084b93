"""Once-per-account (and region) singletons, created by the one stage that owns them (config._assign_owners).

X-Ray Transaction Search indexes spans into the `aws/spans` log group so a session's trace can be found by
its attributes; it is an account setting, so two stages sharing an account must not both own it (see
stacks/transaction_search.py for the three ways to own it). The X-Ray resource policy lets CloudWatch log
delivery write the traces of every AgentCore resource in the account (vended TRACES); one policy serves all
stages, saving X-Ray's small policy quota.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_xray as xray
from constructs import Construct

from stacks import transaction_search
from stacks.config import StageConfig
from stacks.outputs import publish
from stacks.service_policies import account_arn, service_policy


class AccountStack(cdk.Stack):
    """Transaction Search + the X-Ray delivery policy for this account and region."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        search = transaction_search.add(self, config)
        xray.CfnResourcePolicy(
            self,
            "TraceDeliveryPolicy",
            policy_name=f"{config.project}-agentcore-trace-delivery",
            policy_document=service_policy(
                self,
                sid="AgentCoreVendedTraces",
                service="delivery.logs.amazonaws.com",
                action="xray:PutTraceSegments",
                resource="*",  # X-Ray resource policies name no resource; the conditions scope them
                source_arn=account_arn(self, "logs", "delivery-source:*"),
                conditions={
                    "ForAllValues:ArnLike": {
                        "logs:LogGeneratingResourceArns": [account_arn(self, "bedrock-agentcore", "*")]
                    }
                },
            ),
        )
        self.outputs = publish(
            self,
            {
                "TransactionSearchStatus": (
                    search,
                    "What this stack did with Transaction Search ('adopt' mode reports 'enabled', or "
                    "'adopted' when the account's own configuration was kept)",
                )
            },
        )
