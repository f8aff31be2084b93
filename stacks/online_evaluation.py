"""AgentCore Evaluations on live traffic: built-in LLM judges score a sample of the stage's sessions, and one
alarm per evaluator fires when its hourly average score falls below the stage's threshold.

The L2 `OnlineEvaluationConfig` creates the execution role with its own grants (query the runtime's log group
and `aws/spans`, write results, invoke the judge models; each wildcard is in stacks/iam_wildcards.toml). The
runtime's log group follows the L2's convention for runtime endpoints; the service name is the one the runtime
stack gives the agent's spans, which the L2 cannot know. Results go to a log group of this stage (KMS,
retention) instead of one the service would create without either.
Evidence for the score metric's name and dimensions, and what a deploy must confirm: docs/OBSERVABILITY.md.
"""

from __future__ import annotations

import math

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks import compliance
from stacks.config import StageConfig
from stacks.encrypted_logs import encrypted_log_group, logs_key
from stacks.metric_queries import resource_query

# Where AgentCore publishes scores by default: one metric per evaluator id, e.g. `Builtin.Helpfulness`, with
# dimensions `service.name` and `onlineEvaluationConfigId` (evidence in docs/OBSERVABILITY.md). The resource's
# OutputConfig.CloudWatchConfig.MetricsNamespace could pin it, but CDK's bundled CloudFormation schema (2.275)
# refuses that property, so the default is used.
SCORE_NAMESPACE = "Bedrock-AgentCore/Evaluations"
SCORE_PERIOD = cdk.Duration.hours(1)  # sampled sessions are few: an hour's average, not five minutes'
# The L2 role may write results only below this prefix.
RESULTS_PREFIX = "/aws/bedrock-agentcore/evaluations/results"
BUILTIN = {
    evaluator.value: evaluator
    for evaluator in (getattr(agentcore.BuiltinEvaluator, name) for name in dir(agentcore.BuiltinEvaluator))
    if isinstance(evaluator, agentcore.BuiltinEvaluator)
}


class OnlineEvaluation(Construct):
    """The stage's online evaluation configuration and its results log group (in the runtime's stack, beside
    what it evaluates), and the score metrics its alarms read."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, runtime: agentcore.Runtime,
        endpoint: agentcore.RuntimeEndpoint, service_name: str, variant: str | None = None,
    ) -> None:  # fmt: skip
        """`variant` (e.g. `canary`) scores a second endpoint's sessions under names of their own."""
        super().__init__(scope, construct_id)
        self.min_score = config.online_evaluation_min_score
        self.variant = variant
        self.results = encrypted_log_group(
            self,
            "Results",
            config,
            logs_key(self, "ResultsLogsKey", config, "online evaluation results"),
            name=f"{RESULTS_PREFIX}/{config.dns_name('-'.join(filter(None, ('agent', variant))))}",
        )
        endpoint_logs = agentcore.DataSourceConfig.from_agent_runtime_endpoint(runtime, endpoint)
        self.evaluation = agentcore.OnlineEvaluationConfig(
            self,
            "Config",
            online_evaluation_config_name=config.resource_name(
                "_".join(filter(None, (variant, "evaluation")))
            ),
            description=f"{config.name}: judges score {config.online_evaluation_percent:g}% of sessions",
            evaluators=[
                agentcore.EvaluatorSelector.builtin(BUILTIN[name]) for name in config.online_evaluators
            ],
            data_source=agentcore.DataSourceConfig.from_cloud_watch_logs(
                log_group_names=endpoint_logs.cloud_watch_logs_config.log_group_names,
                service_names=[service_name],
            ),
            sampling_percentage=config.online_evaluation_percent,
            # A session is complete when the runtime would end it for idleness (whole minutes).
            session_timeout=cdk.Duration.minutes(math.ceil(config.idle_timeout_seconds / 60)),
            execution_status=agentcore.ExecutionStatus.ENABLED,
        )
        # Not exposed by the L2: where results and scores go.
        self.evaluation.node.default_child.output_config = (
            agentcore.CfnOnlineEvaluationConfig.OutputConfigProperty(
                cloud_watch_config=agentcore.CfnOnlineEvaluationConfig.CloudWatchOutputConfigProperty(
                    log_group_name=self.results.log_group_name
                )
            )
        )
        # The data source names the endpoint's log group by its name only: create the endpoint first.
        self.evaluation.node.add_dependency(endpoint)
        compliance.acknowledge_policy(self.evaluation.execution_role)
        self.scores = {
            name: cloudwatch.Metric(
                namespace=SCORE_NAMESPACE,
                metric_name=name,
                dimensions_map={
                    "service.name": service_name,
                    "onlineEvaluationConfigId": self.evaluation.online_evaluation_config_id,
                },
                statistic="Average",
                period=SCORE_PERIOD,
            )
            for name in config.online_evaluators
        }
        # What the alarms watch: every series of the score for this configuration, whichever of the EMF's
        # dimension sets the service publishes (the namespace remains to be confirmed by a deploy).
        self.score_totals = {
            name: resource_query(
                SCORE_NAMESPACE,
                name,
                "AVG",
                {"onlineEvaluationConfigId": self.evaluation.online_evaluation_config_id},
                period=SCORE_PERIOD,
                label=f"{name} (average)",
            )
            for name in config.online_evaluators
        }


def score_alarms(
    scope: Construct, config: StageConfig, evaluation: OnlineEvaluation, topic: sns.ITopic
) -> dict[str, cloudwatch.Alarm]:
    """One alarm per evaluator: its hourly average below the stage's minimum score. An hour without a sampled
    session is not a failure (a quiet stage must not page)."""
    alarms = {}
    prefix = f"{evaluation.variant}-" if evaluation.variant else ""
    for evaluator, metric in evaluation.score_totals.items():
        short = evaluator.removeprefix("Builtin.")
        alarm = alarms[evaluator] = cloudwatch.Alarm(
            scope,
            f"{prefix}{short}Score",
            alarm_name=config.dns_name(f"{prefix}{short}Score"),
            alarm_description=(
                f"The average {evaluator} score of sampled {evaluation.variant or 'live'} sessions fell "
                f"below {evaluation.min_score:g} (online evaluation)."
            ),
            metric=metric,
            threshold=evaluation.min_score,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(topic))
        alarm.add_ok_action(actions.SnsAction(topic))
    return alarms


def score_widget(evaluation: OnlineEvaluation) -> cloudwatch.GraphWidget:
    """The scores on the dashboard, with the alarm threshold drawn."""
    return cloudwatch.GraphWidget(
        title="Quality: online evaluation scores (0-1, hourly average)",
        left=list(evaluation.scores.values()),
        left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
        left_annotations=[cloudwatch.HorizontalAnnotation(value=evaluation.min_score, label="alarm below")],
        width=24,
        height=6,
    )
