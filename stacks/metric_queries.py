"""Alarms that aggregate every series of one resource, whatever dimension set the service publishes.

A metric alarm matches one exact dimension set, and AWS documents none for the runtime and memory metrics
(docs/OBSERVABILITY.md). A CloudWatch Metrics Insights query filtered on the resource (`SELECT SUM(Errors)
FROM "AWS/Bedrock-AgentCore" WHERE Resource = '<ARN>'`) sums every series that carries it, so a guess about
the other dimensions cannot silence the alarm. CloudFormation takes the query as `Metrics[].Expression` with a
`Period` (Create_Metrics_Insights_Alarm.html). Limits that shape this module: only the last 3 hours are
evaluated, at most 200 such alarms per account and region, the functions are AVG/COUNT/MAX/MIN/SUM (no
percentiles), and a metric-math SEARCH() is not allowed in an alarm at all. scripts/alarm_metrics.py reads
the same query shape back after a deploy, so keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

FUNCTIONS = frozenset({"AVG", "COUNT", "MAX", "MIN", "SUM"})
MAX_WINDOW = cdk.Duration.hours(3)
PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quoted_name(name: str) -> str:
    """A namespace, metric or dimension name as Metrics Insights reads it: double-quoted unless plain."""
    if '"' in name:
        raise ValueError(f"metric query: the name {name!r} contains a double quote")
    return name if PLAIN_NAME.match(name) else f'"{name}"'


def resource_query(
    namespace: str,
    metric: str,
    function: str,
    where: Mapping[str, str],
    *,
    period: cdk.Duration,
    label: str,
    account_wide: bool = False,
) -> cloudwatch.MathExpression:
    """One Metrics Insights query over every series of `metric` whose dimensions include `where` (or, for an
    account quota, `account_wide`: over every series of the account)."""
    if function not in FUNCTIONS:
        raise ValueError(f"metric query: {function!r} is not one of {sorted(FUNCTIONS)}")
    if not where and not account_wide:
        raise ValueError("metric query: a WHERE filter is required (an alarm watches one resource)")
    if period.to_seconds() % 60 or period.to_seconds() > MAX_WINDOW.to_seconds():
        raise ValueError("metric query: the period must be whole minutes, at most 3 hours")
    for value in where.values():
        if "'" in value:
            raise ValueError(f"metric query: the value {value!r} contains a single quote")
    condition = " AND ".join(f"{quoted_name(key)} = '{value}'" for key, value in where.items())
    return cloudwatch.MathExpression(
        expression=(
            f"SELECT {function}({quoted_name(metric)}) FROM {quoted_name(namespace)}"
            + (f" WHERE {condition}" if condition else "")
        ),
        period=period,
        label=label,
    )
