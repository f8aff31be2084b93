"""Once-per-account (and region) singletons, created by the one stage configured to own them.

X-Ray Transaction Search indexes spans into the `aws/spans` log group so a session's trace can be found by
its attributes; it is an account setting, so two stages sharing an account must not both create it.
The X-Ray resource policy lets CloudWatch log delivery write the traces of every AgentCore resource in
the account (vended TRACES); one policy serves all stages, saving X-Ray's small policy quota.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_xray as xray
from constructs import Construct

from stacks.config import StageConfig
from stacks.outputs import publish


class AccountStack(cdk.Stack):
    """Transaction Search + the X-Ray delivery policy for this account and region."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if config.transaction_search == "create":
            self._transaction_search(config)
        xray.CfnResourcePolicy(
            self,
            "TraceDeliveryPolicy",
            policy_name=f"{config.project}-agentcore-trace-delivery",
            policy_document=self._allow(
                sid="AgentCoreVendedTraces",
                service="delivery.logs.amazonaws.com",
                action="xray:PutTraceSegments",
                resource="*",  # X-Ray resource policies name no resource; the conditions scope them
                source_arn=self._arn("logs", "delivery-source:*"),
                conditions={
                    "ForAllValues:ArnLike": {
                        "logs:LogGeneratingResourceArns": [self._arn("bedrock-agentcore", "*")]
                    }
                },
            ),
        )
        self.outputs = publish(
            self,
            {
                "TransactionSearchPercent": (
                    str(config.transaction_search_percent)
                    if config.transaction_search == "create"
                    else "existing",
                    "Share of spans indexed ('existing': the account's own Transaction Search setting)",
                )
            },
        )

    def _transaction_search(self, config: StageConfig) -> None:
        """Turn Transaction Search on. An account where it is already on keeps its own configuration
        (`transaction_search: existing`): creating it again fails with AlreadyExists."""
        spans_policy = logs.CfnResourcePolicy(
            self,
            "TransactionSearchLogsPolicy",
            policy_name=f"{config.project}-transaction-search",
            policy_document=self._allow(
                sid="TransactionSearchXRayAccess",
                service="xray.amazonaws.com",
                action="logs:PutLogEvents",
                resource=[
                    self._log_group_arn("aws/spans"),
                    self._log_group_arn("/aws/application-signals/data"),
                ],
                source_arn=self._arn("xray", "*"),
            ),
        )
        search = xray.CfnTransactionSearchConfig(
            self, "TransactionSearch", indexing_percentage=config.transaction_search_percent
        )
        search.add_resource_dependency(spans_policy)

    def _allow(
        self,
        *,
        sid: str,
        service: str,
        action: str,
        resource: str | list[str],
        source_arn: str,
        conditions: dict[str, Any] | None = None,
    ) -> str:
        """A resource policy letting one AWS service act for this account only (confused-deputy safe)."""
        statement = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": action,
            "Resource": resource,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": self.account},
                "ArnLike": {"aws:SourceArn": source_arn},
                **(conditions or {}),
            },
        }
        return self.to_json_string({"Version": "2012-10-17", "Statement": [statement]})

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def _log_group_arn(self, name: str) -> str:
        return self._arn("logs", f"log-group:{name}:*")
