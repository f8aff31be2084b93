"""Once-per-account (and region) singletons, created by the one stage configured to own them.

X-Ray Transaction Search indexes spans into the `aws/spans` log group so a session's trace can be found by
its attributes; it is an account setting, so two stages sharing an account must not both create it.
The X-Ray resource policy lets CloudWatch log delivery write the traces of every AgentCore resource in
the account (vended TRACES); one policy serves all stages, saving X-Ray's small policy quota.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_xray as xray
from constructs import Construct

from stacks.config import StageConfig


class AccountStack(cdk.Stack):
    """Transaction Search + the X-Ray delivery policy for this account and region."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        account_condition = {"StringEquals": {"aws:SourceAccount": self.account}}
        xray_arns = f"arn:{self.partition}:xray:{self.region}:{self.account}:*"
        spans_policy = logs.CfnResourcePolicy(
            self,
            "TransactionSearchLogsPolicy",
            policy_name=f"{config.project}-transaction-search",
            policy_document=self.to_json_string(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TransactionSearchXRayAccess",
                            "Effect": "Allow",
                            "Principal": {"Service": "xray.amazonaws.com"},
                            "Action": "logs:PutLogEvents",
                            "Resource": [
                                self._log_group_arn("aws/spans"),
                                self._log_group_arn("/aws/application-signals/data"),
                            ],
                            "Condition": {
                                **account_condition,
                                "ArnLike": {"aws:SourceArn": xray_arns},
                            },
                        }
                    ],
                }
            ),
        )
        search = xray.CfnTransactionSearchConfig(
            self, "TransactionSearch", indexing_percentage=config.transaction_search_percent
        )
        search.add_dependency(spans_policy)
        xray.CfnResourcePolicy(
            self,
            "TraceDeliveryPolicy",
            policy_name=f"{config.project}-agentcore-trace-delivery",
            policy_document=self.to_json_string(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AgentCoreVendedTraces",
                            "Effect": "Allow",
                            "Principal": {"Service": "delivery.logs.amazonaws.com"},
                            "Action": "xray:PutTraceSegments",
                            "Resource": "*",
                            "Condition": {
                                **account_condition,
                                "ArnLike": {
                                    "aws:SourceArn": f"arn:{self.partition}:logs:{self.region}:{self.account}"
                                    ":delivery-source:*"
                                },
                                "ForAllValues:ArnLike": {
                                    "logs:LogGeneratingResourceArns": [
                                        f"arn:{self.partition}:bedrock-agentcore:{self.region}:{self.account}:*"
                                    ]
                                },
                            },
                        }
                    ],
                }
            ),
        )
        cdk.CfnOutput(self, "TransactionSearchIndexingPercent", value=str(config.transaction_search_percent))

    def _log_group_arn(self, name: str) -> str:
        return f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{name}:*"
