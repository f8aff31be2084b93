"""After a deploy: does every alarm of the stage watch a metric that exists?

An alarm on a metric nobody publishes stays silent forever. CloudWatch ListMetrics lists what was published
in the last two weeks, so after the smoke test's traffic each alarm's metric must be there:
  - a metric alarm (Namespace, MetricName, Dimensions): a metric with exactly that dimension set;
  - a metric-math alarm: the same for each metric it reads;
  - a Metrics Insights alarm (stacks/metric_queries.py's `SELECT f(metric) FROM namespace WHERE k = 'v' AND
    ...`): a metric of that name whose dimensions include every `k = 'v'`, since the query sums them all.
A query of any other shape cannot be checked here and fails, naming its alarm.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NAME = r'"[^"]+"|[A-Za-z_][A-Za-z0-9_]*'
QUERY = re.compile(
    rf"^SELECT\s+[A-Z]+\((?P<metric>{NAME})\)\s+FROM\s+(?P<namespace>{NAME})(\s+WHERE\s+(?P<where>.+))?$",
    re.IGNORECASE,
)
# An alarm on a Contributor Insights rule's metrics: the rule must exist and be on (no ListMetrics entry).
INSIGHT_RULE = re.compile(r"INSIGHT_RULE_METRIC\('(?P<rule>[^']+)'")
RULE_NAMESPACE = "(Contributor Insights rule)"
CONDITION = re.compile(rf"^(?P<key>{NAME})\s*=\s*'(?P<value>[^']*)'$")
MAX_ALARMS_PER_CALL = 100  # DescribeAlarms' AlarmNames


@dataclass(frozen=True)
class Watched:
    """One metric an alarm reads: `exact` dimensions (metric alarms) or at least these (queries)."""

    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    exact: bool

    def describe(self) -> str:
        dims = ",".join(f"{k}={v}" for k, v in sorted(self.dimensions.items()))
        return f"{self.namespace} {self.metric} {'{' + dims + '}'}{'' if self.exact else ' (any more)'}"


class Unreadable(ValueError):
    """An alarm whose metric this check cannot derive."""


def _name(token: str) -> str:
    return token[1:-1] if token.startswith('"') else token


def parse_query(query: str) -> Watched:
    """The metric a Metrics Insights alarm query reads; Unreadable for any other shape."""
    match = QUERY.match(query.strip())
    if not match:
        raise Unreadable(f"not a SELECT f(metric) FROM namespace WHERE ... query: {query!r}")
    dimensions = {}
    for condition in re.split(r"\s+AND\s+", match["where"], flags=re.IGNORECASE) if match["where"] else ():
        found = CONDITION.match(condition.strip())
        if not found:
            raise Unreadable(f"a WHERE condition other than name = 'value': {condition.strip()!r}")
        dimensions[_name(found["key"])] = found["value"]
    return Watched(_name(match["namespace"]), _name(match["metric"]), dimensions, exact=False)


def _metric(metric: Mapping[str, Any]) -> Watched:
    dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
    return Watched(metric["Namespace"], metric["MetricName"], dims, exact=True)


def watched_metrics(alarm: Mapping[str, Any]) -> list[Watched]:
    """Every metric a DescribeAlarms MetricAlarm reads."""
    if alarm.get("MetricName"):
        return [_metric(alarm)]
    watched = []
    for query in alarm.get("Metrics", []):
        if "MetricStat" in query:
            watched.append(_metric(query["MetricStat"]["Metric"]))
        elif query.get("Expression", "").lstrip().upper().startswith("SELECT"):
            watched.append(parse_query(query["Expression"]))
        elif rules := set(INSIGHT_RULE.findall(query.get("Expression", ""))):
            watched += [Watched(RULE_NAMESPACE, rule, {}, exact=True) for rule in sorted(rules)]
    if not watched:
        raise Unreadable("it reads no metric and no Metrics Insights query")
    return watched


def exists(cloudwatch: Any, watched: Watched) -> bool:
    """ListMetrics (every page) has a metric that `watched` matches; for a rule: it exists and is on."""
    if watched.namespace == RULE_NAMESPACE:
        rules = cloudwatch.describe_insight_rules().get("InsightRules", [])
        return any(r["Name"] == watched.metric and r.get("State") == "ENABLED" for r in rules)
    pages = cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=watched.namespace,
        MetricName=watched.metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in watched.dimensions.items()],
    )
    for page in pages:
        for metric in page.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if not watched.exact or dims == dict(watched.dimensions):
                return True
    return False


def describe_alarms(cloudwatch: Any, names: Sequence[str]) -> list[Mapping[str, Any]]:
    """The named metric alarms; a name CloudWatch does not know is an error, not a silent pass."""
    alarms: list[Mapping[str, Any]] = []
    for start in range(0, len(names), MAX_ALARMS_PER_CALL):
        batch = list(names[start : start + MAX_ALARMS_PER_CALL])
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNames=batch, AlarmTypes=["MetricAlarm"]
        )
        alarms.extend(alarm for page in pages for alarm in page.get("MetricAlarms", []))
    unknown = sorted(set(names) - {alarm["AlarmName"] for alarm in alarms})
    if unknown:
        raise LookupError(f"no such metric alarm: {', '.join(unknown)}")
    return alarms


def missing_metrics(
    cloudwatch: Any,
    names: Sequence[str],
    *,
    wait_seconds: float = 0.0,
    poll_seconds: float = 30.0,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, str]:
    """{alarm name: why} for each alarm whose metric is not listed (yet); empty when all are there.

    New metrics take a few minutes to be listed, so alarms still missing are asked again every
    `poll_seconds` until `wait_seconds` have passed."""
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + wait_seconds
    pending: dict[str, list[Watched]] = {}
    problems: dict[str, str] = {}
    for alarm in describe_alarms(cloudwatch, names):
        try:
            pending[alarm["AlarmName"]] = watched_metrics(alarm)
        except Unreadable as error:
            problems[alarm["AlarmName"]] = f"cannot check: {error}"
    while True:
        absent = _absent(cloudwatch, pending)
        if not absent or clock() >= deadline:
            break
        pending = {name: pending[name] for name in absent}
        sleep(min(poll_seconds, max(deadline - clock(), 0.0)))
    problems.update({name: f"no metric {why}" for name, why in absent.items()})
    return dict(sorted(problems.items()))


def _absent(cloudwatch: Any, pending: Mapping[str, Iterable[Watched]]) -> dict[str, str]:
    absent = {}
    for name, watched in pending.items():
        missing = [w.describe() for w in watched if not exists(cloudwatch, w)]
        if missing:
            absent[name] = "; ".join(missing)
    return absent
