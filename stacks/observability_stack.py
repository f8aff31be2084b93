"""Per-stage dashboard and alarms: is a failure in the runtime, a tool, the gateway, memory or the model?

Dashboard metrics come from the constructs' own `metric_*` methods (so they name this stage's resources);
the gateway's are built here with its documented dimension set, and Bedrock's token counts are keyed by the
configured model id. The AgentCore count alarms are Metrics Insights queries over every series of their
resource (stacks/metric_queries.py), so no guessed dimension set can silence them; the latency percentile
cannot be a query and is proven after a deploy by scripts/smoke.py. docs/OBSERVABILITY.md has the evidence for
every namespace, name and dimension. Alarms notify one KMS-encrypted topic.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import CANARY_ENDPOINT, StageConfig
from stacks.encryption import stage_key
from stacks.gateway_stack import GatewayStack
from stacks.memory_stack import MemoryStack
from stacks.metric_queries import resource_query
from stacks.online_evaluation import score_alarms, score_widget
from stacks.outputs import publish
from stacks.quota_headroom import QUOTAS, current, limit, memory_throttles
from stacks.quota_headroom import widget as quota_widget
from stacks.runtime_stack import RuntimeStack
from stacks.spend_guards import SpendGuards
from stacks.vended_logs import vended_log_group_name

FIVE_MINUTES = cdk.Duration.minutes(5)
AGENTCORE_NAMESPACE = "AWS/Bedrock-AgentCore"
MEMORY_OPERATIONS = ("CreateEvent", "ListEvents", "RetrieveMemoryRecords")
TRACE_HELP = """### Find the trace of a failing session
1. Open **CloudWatch > Application Signals > GenAI Observability > Bedrock AgentCore** and pick agent
   `{runtime}`: sessions, traces and their spans (model calls, tool calls, memory calls) are listed there.
2. Or **CloudWatch > Transaction Search**: query spans with `attributes.session.id = "<session id>"`
   (the session id is in every agent log line and error event) to get the trace id.
3. The runtime's logs are in `{runtime_logs}`; the gateway's in `{gateway_logs}`; memory's in
   `{memory_logs}`. Tool functions log with the gateway request id as correlation id.
See docs/OBSERVABILITY.md for what each widget and alarm means."""


class ObservabilityStack(cdk.Stack):
    """Dashboard, alarms and the alarm topic for one stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        runtime: RuntimeStack,
        gateway: GatewayStack,
        memory: MemoryStack,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.metrics = StageMetrics(config, runtime, gateway, memory)
        self.topic = self._topic()
        self.alarms = self._alarms()
        self.spend = SpendGuards(
            self, "SpendGuards", config=config, runtime_id=runtime.runtime.agent_runtime_id, topic=self.topic
        )
        self.alarms["TopSpenderShare"] = self._alarm(
            "TopSpenderShare",
            self.spend.top_spenders.share,
            config.top_spender_share_percent,
            f"One caller spent {config.top_spender_share_percent} % or more of the stage's tokens this hour.",
        )
        self.quota_arns = {
            "runtime": runtime.runtime.agent_runtime_arn,
            "gateway": gateway.gateway.gateway_arn,
            "memory": memory.memory.memory_arn,
        }
        for quota in QUOTAS:
            ceiling = limit(config, quota)
            self.alarms[quota.name] = self._alarm(
                quota.name,
                current(quota, self.quota_arns),
                ceiling * config.quota_alarm_percent / 100,
                f"{quota.title}: {config.quota_alarm_percent} % of its quota ({ceiling:g} {quota.unit}).",
            )
        self.alarms["MemoryThrottles"] = self._alarm(
            "MemoryThrottles",
            memory_throttles(self.quota_arns["memory"]),
            1,
            "Memory throttled calls (CreateEvent allows 5 per second per actor and session).",
        )
        evaluation = runtime.evaluation  # online evaluation scores, when the stage has it
        if evaluation:
            self.alarms.update(score_alarms(self, config, evaluation, self.topic))
        # What scripts/rollout.py watches during a bake (`<project>-<stage>-canary-*`); kept out of
        # `AlarmNames`, whose metrics the smoke test expects to exist: the canary's exist while it serves.
        self.canary_alarms = self._canary_alarms(runtime) if config.canary else {}
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.dns_name("agent"),
            default_interval=cdk.Duration.hours(3),
            widgets=self._widgets()
            + [[self.spend.top_spenders.widget(), self._share_widget()]]
            + [
                [quota_widget(config, quota, self.quota_arns) for quota in QUOTAS]
                + [
                    cloudwatch.GraphWidget(
                        title="Memory: throttled calls",
                        left=[memory_throttles(self.quota_arns["memory"])],
                        width=6,
                        height=6,
                    )
                ]
            ]
            + ([[score_widget(evaluation)]] if evaluation else [])
            + ([self._canary_widgets()] if config.canary else []),
        )
        self.outputs = publish(
            self,
            {
                "AlarmTopicArn": (self.topic.topic_arn, "Alarm notifications"),
                "DashboardName": (config.dns_name("agent"), "CloudWatch dashboard"),
                # scripts/smoke.py checks that each of these alarms watches a metric that exists.
                "AlarmNames": (
                    cdk.Fn.join(",", [alarm.alarm_name for alarm in self.alarms.values()]),
                    "The stage's alarms, comma-separated",
                ),
                **(
                    {
                        "CanaryAlarmNames": (
                            cdk.Fn.join(",", [alarm.alarm_name for alarm in self.canary_alarms.values()]),
                            "The alarms that roll a canary back, comma-separated",
                        )
                    }
                    if self.canary_alarms
                    else {}
                ),
            },
        )

    def _topic(self) -> sns.Topic:
        key = stage_key(self, "AlarmTopicKey", self.config, "alarm notifications at rest")
        # CloudWatch alarms of this account (and only those) publish to the encrypted topic, using its key.
        from_our_alarms = {
            "StringEquals": {"aws:SourceAccount": self.account},
            "ArnLike": {
                "aws:SourceArn": f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:*"
            },
        }
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisAccountEncrypt",
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # a key policy's resource is always the key itself
                conditions=from_our_alarms,
            )
        )
        topic = sns.Topic(
            self, "AlarmTopic", topic_name=self.config.dns_name("alarms"), master_key=key, enforce_ssl=True
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisAccountPublish",
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=from_our_alarms,
            )
        )
        if self.config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.config.alarm_email))
        return topic

    def _alarm(
        self, name: str, metric: cloudwatch.IMetric, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        """One alarm on a 5-minute metric: no data means no traffic, which is not a failure."""
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_name=self.config.dns_name(name),
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        return alarm

    def _alarms(self) -> dict[str, cloudwatch.Alarm]:
        m = self.metrics
        alarms = {
            "RuntimeSystemErrors": self._alarm(
                "RuntimeSystemErrors",
                m.totals["runtime_system_errors"],
                1,
                "The runtime failed requests (5xx).",
            ),
            "RuntimeThrottles": self._alarm(
                "RuntimeThrottles",
                m.totals["runtime_throttles"],
                1,
                "The runtime throttled requests (quota).",
            ),
            "RuntimeLatencyP99": self._alarm(
                "RuntimeLatencyP99",
                m.runtime["latency_p99"],
                self.config.latency_p99_threshold_ms,
                f"p99 invocation latency reached {self.config.latency_p99_threshold_ms} ms.",
            ),
            "GatewaySystemErrors": self._alarm(
                "GatewaySystemErrors",
                m.totals["gateway_system_errors"],
                1,
                "The gateway failed tool requests (5xx).",
            ),
            "MemoryErrors": self._alarm(
                "MemoryErrors",
                m.totals["memory_errors"],
                1,
                "Memory calls failed; the agent answers without memory.",
            ),
        }
        for target, errors in m.tool_errors.items():
            name = f"{target.title()}ToolErrors"
            alarms[name] = self._alarm(
                name, errors, 1, f"The '{target}' tool function raised (not a tool error)."
            )
        return alarms

    def _canary_alarms(self, runtime: RuntimeStack) -> dict[str, cloudwatch.Alarm]:
        """The canary endpoint's share alone: 5xx, throttles, p90 latency (at the stage's p99 budget: a
        canary whose typical call is as slow as live's worst fails), and its own online evaluation scores."""
        config, m = self.config, self.metrics
        alarms = {
            "CanarySystemErrors": self._alarm(
                "canary-SystemErrors",
                m.canary_totals["SystemErrors"],
                1,
                "The canary version failed requests (5xx).",
            ),
            "CanaryThrottles": self._alarm(
                "canary-Throttles", m.canary_totals["Throttles"], 1, "The canary endpoint throttled requests."
            ),
            "CanaryLatencyP90": self._alarm(
                "canary-LatencyP90",
                m.canary["latency_p90"],
                config.latency_p99_threshold_ms,
                f"The canary version's p90 latency reached {config.latency_p99_threshold_ms} ms.",
            ),
        }
        if runtime.canary_evaluation:
            scores = score_alarms(self, config, runtime.canary_evaluation, self.topic)
            alarms.update({f"Canary{name}": alarm for name, alarm in scores.items()})
        return alarms

    def _canary_widgets(self) -> list:
        """Live and canary side by side during a rollout: invocations, 5xx and p90 latency of each."""
        m = self.metrics
        return [
            cloudwatch.GraphWidget(
                title=f"Rollout: {title}, live vs canary",
                left=[
                    m.runtime[key].with_(label=f"live {label}"),
                    m.canary[key].with_(label=f"canary {label}"),
                ],
                width=8,
                height=6,
            )
            for title, key, label in (
                ("invocations", "invocations", "invocations"),
                ("errors (5xx)", "system_errors", "5xx"),
                ("latency p90", "latency_p90", "p90 ms"),
            )
        ]

    def _share_widget(self) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title="Tokens: the top caller's share of the hour (%)",
            left=[self.spend.top_spenders.share],
            left_annotations=[
                cloudwatch.HorizontalAnnotation(value=self.config.top_spender_share_percent, label="alarm")
            ],
            width=12,
            height=6,
        )

    def _widgets(self) -> list:
        m, config = self.metrics, self.config

        def graph(
            title: str, metrics: Mapping[str, cloudwatch.IMetric], width: int = 8
        ) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics.values()), width=width, height=6)

        return [
            [
                cloudwatch.TextWidget(
                    markdown=TRACE_HELP.format(
                        runtime=config.resource_name("agent"),
                        runtime_logs=vended_log_group_name(config, "runtime"),
                        gateway_logs=vended_log_group_name(config, "gateway"),
                        memory_logs=vended_log_group_name(config, "memory"),
                    ),
                    width=24,
                    height=5,
                )
            ],
            [
                graph(
                    "Runtime: sessions and invocations",
                    {k: m.runtime[k] for k in ("sessions", "invocations")},
                ),
                graph(
                    "Runtime: latency p50 / p90 / p99",
                    {k: m.runtime[k] for k in ("latency_p50", "latency_p90", "latency_p99")},
                ),
                graph(
                    "Runtime: errors and throttles",
                    {k: m.runtime[k] for k in ("system_errors", "user_errors", "throttles")},
                ),
            ],
            [
                graph("Gateway: invocations", {"invocations": m.gateway["invocations"]}),
                graph(
                    "Gateway: latency and target time", {k: m.gateway[k] for k in ("latency", "target_time")}
                ),
                graph(
                    "Gateway: errors and throttles",
                    {k: m.gateway[k] for k in ("system_errors", "user_errors", "throttles")},
                ),
            ],
            [
                graph("Memory: events and extracted records", m.memory_creation),
                graph("Memory: API latency", m.memory_latency),
                graph("Memory: API errors", m.memory_api_errors),
            ],
            [
                graph("Tools: invocations", {t: f.metric_invocations() for t, f in m.functions.items()}),
                graph("Tools: errors and throttles", {**m.tool_errors, **m.tool_throttles}),
                graph(
                    "Tools: duration p90",
                    {t: f.metric_duration(statistic="p90") for t, f in m.functions.items()},
                ),
            ],
            [
                graph("Model: tokens", m.tokens, width=12),
                cloudwatch.SingleValueWidget(
                    title="Model: estimated cost today (USD, prices from config)",
                    metrics=[m.daily_cost],
                    width=12,
                    height=6,
                ),
            ],
        ]


def gateway_metric(gateway: GatewayStack, name: str, statistic: str) -> cloudwatch.Metric:
    """One gateway metric with the dimension set AWS documents for it: `Resource` = the gateway ARN alone.

    Built here, not with the L2's `metric_*`: those always add `Operation=InvokeGateway` and `Protocol=MCP`
    (aws-bedrockagentcore/lib/gateway/gateway-base.ts, `metric()`; `dimensions_map` can add keys, never
    remove them), a combination no AWS page shows being published, and CloudWatch matches the exact set.
    AWS's own alarm example for a gateway uses `--dimensions Name=Resource,Value=<gateway ARN>`
    (observability-gateway-metrics.html, "Setting up CloudWatch alarms"). See docs/OBSERVABILITY.md.
    """
    return cloudwatch.Metric(
        namespace=AGENTCORE_NAMESPACE,
        metric_name=name,
        dimensions_map={"Resource": gateway.gateway.gateway_arn},
        statistic=statistic,
        period=FIVE_MINUTES,
    )


def agentcore_total(metric: str, resource_arn: str, label: str) -> cloudwatch.MathExpression:
    """The 5-minute sum of an AgentCore count over every dimension set that carries `Resource=<ARN>`."""
    return resource_query(
        AGENTCORE_NAMESPACE, metric, "SUM", {"Resource": resource_arn}, period=FIVE_MINUTES, label=label
    )


def endpoint_dimension(config: StageConfig, endpoint_name: str) -> str:
    """The `Name` dimension of one endpoint's runtime metrics: `AgentName::EndpointName` (AWS's format for the
    runtime's resource-usage metrics; for these metrics a deploy must confirm it, docs/OBSERVABILITY.md)."""
    return f"{config.resource_name('agent')}::{endpoint_name}"


def endpoint_metrics(
    config: StageConfig, agent: agentcore.Runtime, endpoint_name: str
) -> dict[str, cloudwatch.Metric]:
    """One endpoint's runtime metrics. The L2's dimension set (runtime-base.ts `metric()`), except that its
    `Name` is the DEFAULT endpoint and clients call the stage's named ones. AWS lists no dimensions for these
    metrics (docs/OBSERVABILITY.md)."""
    dimensions = {
        "Operation": "InvokeAgentRuntime",
        "Name": endpoint_dimension(config, endpoint_name),
        "Resource": agent.agent_runtime_arn,
    }
    period = {"period": FIVE_MINUTES, "dimensions_map": dimensions}
    return {
        "sessions": agent.metric_session_count(**period),
        "invocations": agent.metric_invocations(**period),
        "latency_p50": agent.metric_latency(statistic="p50", **period),
        "latency_p90": agent.metric_latency(statistic="p90", **period),
        "latency_p99": agent.metric_latency(statistic="p99", **period),
        "system_errors": agent.metric_system_errors(**period),
        "user_errors": agent.metric_user_errors(**period),
        "throttles": agent.metric_throttles(**period),
    }


class StageMetrics:
    """Every metric the dashboard and alarms read, named once, bound to this stage's resources."""

    def __init__(
        self, config: StageConfig, runtime: RuntimeStack, gateway: GatewayStack, memory: MemoryStack
    ) -> None:
        agent = runtime.runtime
        self.runtime = endpoint_metrics(config, agent, config.endpoint_name)
        # The canary's share, on its own endpoint (`Name = <agent>::canary`), when the stage has one.
        self.canary = endpoint_metrics(config, agent, CANARY_ENDPOINT) if config.canary else None
        self.canary_totals = (
            {
                metric: resource_query(
                    AGENTCORE_NAMESPACE,
                    metric,
                    "SUM",
                    {
                        "Resource": agent.agent_runtime_arn,
                        "Name": endpoint_dimension(config, CANARY_ENDPOINT),
                    },
                    period=FIVE_MINUTES,
                    label=f"Canary {metric}",
                )
                for metric in ("SystemErrors", "Throttles")
            }
            if config.canary
            else None
        )
        self.gateway = {
            "invocations": gateway_metric(gateway, "Invocations", "Sum"),
            "latency": gateway_metric(gateway, "Latency", "p90"),
            "target_time": gateway_metric(gateway, "TargetExecutionTime", "p90"),
            "system_errors": gateway_metric(gateway, "SystemErrors", "Sum"),
            "user_errors": gateway_metric(gateway, "UserErrors", "Sum"),
            "throttles": gateway_metric(gateway, "Throttles", "Sum"),
        }
        mem = memory.memory
        self.memory_creation = {
            "events": mem.metric_event_creation_count(period=FIVE_MINUTES),
            "records": mem.metric_memory_record_creation_count(period=FIVE_MINUTES),
        }
        self.memory_latency = {
            op: mem.metric_latency_for_api_operation(op, period=FIVE_MINUTES, statistic="p90")
            for op in MEMORY_OPERATIONS
        }
        self.memory_api_errors = {
            op: mem.metric_errors_for_api_operation(op, period=FIVE_MINUTES) for op in MEMORY_OPERATIONS
        }
        # What the count alarms watch: every series of the resource. The threshold is 1, so a count also
        # published under a coarser dimension set (summed twice here) fires as early, never later.
        self.totals = {
            "runtime_system_errors": agentcore_total("SystemErrors", agent.agent_runtime_arn, "Runtime 5xx"),
            "runtime_throttles": agentcore_total("Throttles", agent.agent_runtime_arn, "Runtime throttles"),
            "gateway_system_errors": agentcore_total(
                "SystemErrors", gateway.gateway.gateway_arn, "Gateway 5xx"
            ),
            "memory_errors": agentcore_total("Errors", mem.memory_arn, "Memory API errors"),
        }
        self.functions = gateway.tools.functions
        self.tool_errors = {t: f.metric_errors(period=FIVE_MINUTES) for t, f in self.functions.items()}
        self.tool_throttles = {
            f"{t} throttles": f.metric_throttles(period=FIVE_MINUTES) for t, f in self.functions.items()
        }
        self.tokens = {
            kind: cloudwatch.Metric(
                namespace="AWS/Bedrock",
                metric_name=f"{kind}TokenCount",
                dimensions_map={"ModelId": config.model_id},
                statistic="Sum",
                period=FIVE_MINUTES,
                label=f"{kind} tokens",
            )
            for kind in ("Input", "Output")
        }
        day = cdk.Duration.days(1)
        self.daily_cost = cloudwatch.MathExpression(
            expression=(
                f"FILL(i, 0) / 1000 * {config.input_token_usd_per_1k} "
                f"+ FILL(o, 0) / 1000 * {config.output_token_usd_per_1k}"
            ),
            using_metrics={
                "i": self.tokens["Input"].with_(period=day),
                "o": self.tokens["Output"].with_(period=day),
            },
            label="Estimated model cost (USD/day)",
            period=day,
        )
