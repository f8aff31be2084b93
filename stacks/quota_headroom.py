"""Quota headroom: an alarm before a stage reaches an AgentCore quota, and a dashboard row of how close it is.

Limits are AgentCore's documented defaults (devguide `bedrock-agentcore-limits`, docs/OBSERVABILITY.md
quotes them), per region where they differ, or the stage's `quota_*` override once a quota was raised.
Synthesis is offline, so it cannot read Service Quotas; `make preflight` compares the account's applied
values with these.

Each value is a CloudWatch Metrics Insights query rather than one metric: an alarm on a plain metric
matches one exact dimension set, and AWS does not document every set these metrics are published with. A
query's MAX over every series of the resource (or of the account, for `ActiveSessionCount`, which counts the
account's sessions) is the same whichever sets exist, as long as they are aggregations of one another.
Quotas are per account: a stage watches its own resources, so stages sharing an account should lower the
override to their share. `CreateEvent`'s 5 TPS per actor and session cannot be watched per actor; memory's
throttles are its signal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from stacks.config import StageConfig
from stacks.metric_queries import resource_query

NAMESPACE = "AWS/Bedrock-AgentCore"
MINUTE = cdk.Duration.minutes(1)
LARGE_SESSION_REGIONS = ("us-east-1", "us-west-2")  # 5,000 active sessions; 2,500 elsewhere


@dataclass(frozen=True)
class Quota:
    """One quota: how its current value is read, what the limit is, and in which unit."""

    name: str  # the alarm's name
    key: str  # the stage setting `quota_<key>` overrides the documented limit
    title: str
    unit: str
    metric: str
    resource: str | None  # whose series (a key of the stage's ARNs); None: the account's
    default: Callable[[str], float]


QUOTAS = (
    Quota(
        "ActiveSessionsHeadroom",
        "active_sessions",
        "Runtime: active sessions of the account",
        "sessions",
        "ActiveSessionCount",
        None,
        lambda region: 5_000 if region in LARGE_SESSION_REGIONS else 2_500,
    ),
    Quota(
        "NewSessionsHeadroom",
        "new_sessions_per_minute",
        "Runtime: new sessions per minute (25 per second per account)",
        "sessions/min",
        "SessionCount",
        "runtime",
        lambda region: 25 * 60,
    ),
    Quota(
        # The agent searches the gateway's tools once per turn (gateway_tools.py), and each turn is one
        # invocation of the runtime: its invocations per minute are the search calls per minute.
        "SearchCallsHeadroom",
        "search_calls_per_minute",
        "Gateway: tool searches per minute (25 per minute; one per turn)",
        "searches/min",
        "Invocations",
        "runtime",
        lambda region: 25,
    ),
    Quota(
        "GatewayCallsHeadroom",
        "gateway_calls_per_minute",
        "Gateway: calls per minute (200 per second)",
        "calls/min",
        "Invocations",
        "gateway",
        lambda region: 200 * 60,
    ),
)


def limit(config: StageConfig, quota: Quota) -> float:
    override = getattr(config, f"quota_{quota.key}")
    return float(override) if override is not None else float(quota.default(config.region))


def current(quota: Quota, arns: Mapping[str, str]) -> cloudwatch.MathExpression:
    """The quota's value per minute, as a Metrics Insights query: the largest series of the resource (or of
    the account)."""
    where = {"Resource": arns[quota.resource]} if quota.resource else {}
    label = f"{quota.title} ({quota.unit})"
    return resource_query(
        NAMESPACE, quota.metric, "MAX", where, period=MINUTE, label=label, account_wide=not where
    )


def memory_throttles(memory_arn: str) -> cloudwatch.MathExpression:
    """Memory calls throttled (CreateEvent: 5 TPS per actor and session; RetrieveMemoryRecords: 30 TPS)."""
    return resource_query(
        NAMESPACE,
        "Throttles",
        "SUM",
        {"Resource": memory_arn},
        period=MINUTE,
        label="Memory: throttled calls",
    )


def widget(config: StageConfig, quota: Quota, arns: Mapping[str, str]) -> cloudwatch.GraphWidget:
    """The value against its limit and the alarm's line."""
    ceiling = limit(config, quota)
    return cloudwatch.GraphWidget(
        title=quota.title,
        left=[current(quota, arns)],
        left_annotations=[
            cloudwatch.HorizontalAnnotation(value=ceiling, label="quota"),
            cloudwatch.HorizontalAnnotation(
                value=ceiling * config.quota_alarm_percent / 100,
                label=f"alarm ({config.quota_alarm_percent} %)",
            ),
        ],
        width=6,
        height=6,
    )
