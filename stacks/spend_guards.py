"""A stage's spend guards beside its alarms: an AWS Budget on the stage's tag, and the top spenders of tokens.

- **Budget**: AWS Budgets, cost of everything tagged `STAGE_TAG` = `<project>-<stage>` (stage.py tags every
  resource of the stage), monthly, alerting the stage's alarm topic at each configured share of the limit
  (actual spend) and when the month's forecast passes the limit. The tag filters nothing until it is activated
  as a cost-allocation tag, once per (payer) account: docs/OBSERVABILITY.md.
- **Top spenders**: a Contributor Insights rule over the agent's per-turn usage lines (EMF, written by
  agentcore_agent/usage_metrics.py into the runtime endpoint's log group) ranks callers by tokens. The user
  is a field of the log line, never a metric dimension. An alarm fires when one caller's share of the stage's
  tokens in an hour passes `top_spender_share_percent`, once the hour holds at least
  `top_spender_min_tokens_per_hour` tokens (one developer alone is always 100 % of a quiet stage).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import StageConfig

STAGE_TAG = "agentcore:stage"
USAGE_EVENT = "turn_usage"  # agentcore_agent.usage_metrics.EVENT
HOUR = cdk.Duration.hours(1)


def stage_tag_value(config: StageConfig) -> str:
    return config.dns_name("stage").removesuffix("-stage")


def runtime_log_group_name(runtime_id: str, config: StageConfig) -> str:
    """Where AgentCore writes the container's stdout: `/aws/bedrock-agentcore/runtimes/<id>-<endpoint>`."""
    return f"/aws/bedrock-agentcore/runtimes/{runtime_id}-{config.endpoint_name}"


def stage_budget(scope: Construct, config: StageConfig, topic: sns.Topic, key: kms.IKey) -> budgets.CfnBudget:
    """The stage's monthly cost budget, notifying `topic` (encrypted with `key`)."""
    stack = cdk.Stack.of(scope)
    name = config.dns_name("monthly")
    from_our_budget = {
        "StringEquals": {"aws:SourceAccount": stack.account},
        "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:budgets::{stack.account}:budget/{name}"},
    }
    service = iam.ServicePrincipal("budgets.amazonaws.com")
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="StageBudgetPublish",
            principals=[service],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=from_our_budget,
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="StageBudgetEncrypt",
            principals=[service],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],  # a key policy's resource is always the key itself
            conditions=from_our_budget,
        )
    )
    subscriber = budgets.CfnBudget.SubscriberProperty(address=topic.topic_arn, subscription_type="SNS")
    alerts = [("ACTUAL", percent) for percent in config.budget_alert_percents] + [("FORECASTED", 100)]
    return budgets.CfnBudget(
        scope,
        "StageBudget",
        budget=budgets.CfnBudget.BudgetDataProperty(
            budget_name=name,
            budget_type="COST",
            time_unit="MONTHLY",
            budget_limit=budgets.CfnBudget.SpendProperty(amount=config.monthly_budget_usd, unit="USD"),
            filter_expression=budgets.CfnBudget.ExpressionProperty(
                tags=budgets.CfnBudget.TagValuesProperty(
                    key=STAGE_TAG, values=[stage_tag_value(config)], match_options=["EQUALS"]
                )
            ),
        ),
        notifications_with_subscribers=[
            budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind,
                    comparison_operator="GREATER_THAN",
                    threshold=percent,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=[subscriber],
            )
            for kind, percent in alerts
        ],
    )


class SpendGuards(Construct):
    """The stage's budget and its top-spender rule; the observability stack adds their alarm and widgets."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, runtime_id: str, topic: sns.Topic
    ) -> None:
        super().__init__(scope, construct_id)
        assert topic.master_key is not None, "the alarm topic is encrypted with the stage's key"
        self.budget = stage_budget(self, config, topic, topic.master_key)
        self.top_spenders = TopSpenders(self, "TopSpenders", config=config, runtime_id=runtime_id)


class TopSpenders(Construct):
    """The Contributor Insights rule over the agent's usage lines, its share metric and its widget."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, runtime_id: str) -> None:
        super().__init__(scope, construct_id)
        self.rule_name = config.dns_name("top-spenders")
        body = {
            "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
            "LogGroupNames": [runtime_log_group_name(runtime_id, config)],
            "LogFormat": "JSON",
            "Contribution": {
                "Keys": ["$.actor_id"],
                "ValueOf": "$.total_tokens",
                "Filters": [{"Match": "$.event", "In": [USAGE_EVENT]}],
            },
            "AggregateOn": "Sum",
        }
        self.rule = cloudwatch.CfnInsightRule(
            self,
            "Rule",
            rule_name=self.rule_name,
            rule_state="ENABLED",
            rule_body=cdk.Stack.of(self).to_json_string(body),
        )
        total, top = (
            f"INSIGHT_RULE_METRIC('{self.rule_name}', '{s}')" for s in ("Sum", "MaxContributorValue")
        )
        self.share = cloudwatch.MathExpression(
            expression=f"IF({total} >= {config.top_spender_min_tokens_per_hour}, 100 * {top} / {total}, 0)",
            using_metrics={},
            label="Top caller's share of the stage's tokens (%)",
            period=HOUR,
        )

    def widget(self) -> cloudwatch.IWidget:
        """The ten callers who spent the most tokens (a Contributor Insights graph)."""
        return InsightRuleWidget(self.rule_name, title="Tokens: top 10 callers (actor = Cognito sub)")


class InsightRuleWidget(cloudwatch.ConcreteWidget):
    """A dashboard graph of a Contributor Insights rule's top contributors (the L2 has no such widget)."""

    def __init__(self, rule_name: str, *, title: str, width: int = 12, height: int = 6) -> None:
        super().__init__(width, height)
        self._rule_name, self._title = rule_name, title

    def to_json(self) -> list[object]:
        return [
            {
                "type": "metric",
                "width": self.width,
                "height": self.height,
                "x": self._x,
                "y": self._y,
                "properties": {
                    "title": self._title,
                    "view": "timeSeries",
                    "region": cdk.Aws.REGION,
                    "insightRule": {"maxContributorCount": 10, "orderBy": "Sum", "ruleName": self._rule_name},
                    "period": HOUR.to_seconds(),
                    "stat": "Sum",
                },
            }
        ]
