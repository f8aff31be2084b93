"""The Lambda functions behind the gateway's targets, and the data they own.

A construct, not a stack: it lives inside the gateway stack so the gateway's invoke grants name these
functions directly (a cross-stack reference would turn every grant into an opaque import).

One function per `lambdas/<target>/` directory (its `tools.json` lists its tools). Code shared by the
functions ships once as a layer (`lambdas/shared`); Powertools comes from its public layer, pinned to the
version the tests run against. Tables are encrypted with a stage key, have point-in-time recovery, and
are seeded with sample data when they are created. Beside the tools, not a gateway target: the hold
sweeper (`lambdas/hold_sweeper`), run by an EventBridge schedule, returns lapsed stock holds.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks import compliance
from stacks.config import StageConfig
from stacks.encrypted_logs import logs_key
from stacks.encryption import removal_policy, stage_key
from stacks.python_function import RUNTIME, python_function
from stacks.tool_schema import LAMBDAS, batch_write_request, load_seed

METRICS_NAMESPACE = "AgentCoreTools"
SWEEP_EVERY = cdk.Duration.minutes(5)
"""How often lapsed holds are returned: a hold lasts 30 minutes, so its units are back within 5 of lapsing."""
# cdk-nag findings on every tool function, and why each is acceptable.
TOOL_FUNCTION_FINDINGS = {
    "AwsSolutions-L1": (
        "Pinned to python3.13, the newest runtime for which the pinned Powertools layer is published; bump "
        "python_function.RUNTIME together with the layer."
    ),
    "Serverless-LambdaLatestVersion": (
        "The function runs its published $LATEST code through the gateway target; versions/aliases would "
        "add nothing here because each deploy replaces the target's function configuration."
    ),
    "Serverless-LambdaDLQ": (
        "The gateway invokes tools synchronously and returns failures to the agent as tool errors; there is "
        "no asynchronous event to dead-letter."
    ),
    "NIST.800.53.R5-LambdaDLQ": (
        "The gateway invokes tools synchronously and returns failures to the agent as tool errors; there is "
        "no asynchronous event to dead-letter."
    ),
    "NIST.800.53.R5-LambdaConcurrency": (
        "Tool calls are bounded by agent sessions; reserving concurrency would take it from the account's "
        "shared pool and fail deploys in accounts with low Lambda quotas."
    ),
    "NIST.800.53.R5-LambdaInsideVPC": (
        "Tools reach only DynamoDB over AWS endpoints with IAM auth; no private network resource exists "
        "that a VPC would protect."
    ),
}


@dataclass(frozen=True)
class ToolTable:
    """The DynamoDB table a tool function owns, as its handler expects it (see the handler's docstring)."""

    env_var: str
    partition_key: str
    # Exactly the DynamoDB actions the handler calls (tests/stacks/test_tool_grants.py reads the handler).
    actions: tuple[str, ...]
    indexes: tuple[tuple[str, str, str], ...] = ()  # (index name, partition key, sort key)
    # Actions on another target's table: (target, action), with that table's name in its env var.
    other_tables: tuple[tuple[str, str], ...] = ()


# Target name (= lambdas/<name>/, = gateway target name) -> its table.
TARGETS: dict[str, ToolTable] = {
    "orders": ToolTable(
        "ORDERS_TABLE_NAME",
        "order_id",
        ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"),
        (("by_customer", "customer_id", "created_at"), ("by_status", "status", "created_at")),
    ),
    "inventory": ToolTable(
        "INVENTORY_TABLE_NAME",
        "sku",
        ("dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
        (
            ("by_expiry", "record_type", "expires_at"),
        ),  # sparse: holds only (lambdas/shared/.../stock_holds.py)
        (("orders", "dynamodb:ConditionCheckItem"),),  # a hold's order_id is one of the caller's orders
    ),
}
HOLD_SWEEPER_ACTIONS = {
    "table": ("dynamodb:DeleteItem", "dynamodb:UpdateItem"),
    "by_expiry": ("dynamodb:Query",),
}
"""What lambdas/hold_sweeper calls: Query on the expiry index only, the return transaction on the table."""
DATA_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*")
_NO_DEAD_LETTER = (
    "A failed sweep needs no dead letter: the next scheduled run, minutes later, sweeps the same lapsed "
    "holds again, idempotently."
)
SWEEPER_FINDINGS = {
    "AwsSolutions-L1": TOOL_FUNCTION_FINDINGS["AwsSolutions-L1"],
    "Serverless-LambdaLatestVersion": (
        "The schedule invokes the function's $LATEST code; each deploy replaces it; nothing else calls it."
    ),
    "Serverless-LambdaDLQ": _NO_DEAD_LETTER,
    "NIST.800.53.R5-LambdaDLQ": _NO_DEAD_LETTER,
    "NIST.800.53.R5-LambdaConcurrency": TOOL_FUNCTION_FINDINGS["NIST.800.53.R5-LambdaConcurrency"],
    "NIST.800.53.R5-LambdaInsideVPC": TOOL_FUNCTION_FINDINGS["NIST.800.53.R5-LambdaInsideVPC"],
    "Serverless-LambdaTracing": (
        "A sweep is one Query and a few transactions with no caller to trace it for; its outcome (returned, "
        "skipped, failed) is logged as one JSON line per run."
    ),
}


def powertools_version() -> str:
    """The Powertools release pinned in lambdas/requirements.txt, so the layer matches what tests ran."""
    pin = re.search(r"aws-lambda-powertools\[[^\]]*\]==([\d.]+)", (LAMBDAS / "requirements.txt").read_text())
    if not pin:
        raise ValueError("lambdas/requirements.txt must pin aws-lambda-powertools")
    return pin.group(1)


class ToolFunctions(Construct):
    """Tool functions (+ tables, layer, log groups) for one stage; `functions` maps target -> function."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.data_key = stage_key(self, "DataKey", config, "tool data at rest")
        self.logs_key = logs_key(self, "LogsKey", config, "tool function logs")
        self.shared_layer = lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=lambda_.Code.from_asset(str(LAMBDAS / "shared"), exclude=["**/__pycache__"]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="gateway_tool (dispatch, validation) and stock_holds, shared by the functions",
        )
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(
                self, f"/aws/service/powertools/python/arm64/{RUNTIME.name}/{powertools_version()}"
            ),
        )
        self.tables: dict[str, dynamodb.TableV2] = {}
        self.functions: dict[str, lambda_.Function] = {}
        for target, table in TARGETS.items():
            self.tables[target] = self._table(target, table)
        for target, table in TARGETS.items():
            self.functions[target] = self._function(target, table)
        self.hold_sweeper = self._hold_sweeper()
        if config.seed_sample_data:
            compliance.acknowledge_aws_custom_resources(cdk.Stack.of(self))

    def _table(self, target: str, spec: ToolTable) -> dynamodb.TableV2:
        string = dynamodb.AttributeType.STRING
        table = dynamodb.TableV2(
            self,
            f"{target.title()}Table",
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=string),
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=name,
                    partition_key=dynamodb.Attribute(name=pk, type=string),
                    sort_key=dynamodb.Attribute(name=sk, type=string),
                )
                for name, pk, sk in spec.indexes
            ],
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(self.data_key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=self.config.is_retained,
            removal_policy=removal_policy(self.config),
        )
        seed_file = LAMBDAS / target / "seed.json"
        if self.config.seed_sample_data and seed_file.exists():
            self._seed(target, table, seed_file)
        return table

    def _seed(self, target: str, table: dynamodb.TableV2, seed_file: Path) -> None:
        """Write the sample records once, when the table is created (seed.json edits are not replayed)."""
        call = cr.AwsSdkCall(
            service="DynamoDB",
            action="batchWriteItem",
            parameters=batch_write_request(table.table_name, load_seed(seed_file)),
            physical_resource_id=cr.PhysicalResourceId.of(
                f"{target}-seed-{hashlib.sha256(seed_file.read_bytes()).hexdigest()[:16]}"
            ),
        )
        seeder = cr.AwsCustomResource(
            self,
            f"{target.title()}Seed",
            on_create=call,
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[table.table_arn]),
            install_latest_aws_sdk=False,
            timeout=cdk.Duration.minutes(2),
        )
        self.data_key.grant_encrypt_decrypt(seeder)
        compliance.acknowledge_custom_resource_policy(seeder)

    def _grant_table(self, role: iam.IRole, target: str, spec: ToolTable) -> None:
        """Only the actions the handler calls, on its table and (for a Query) its named indexes (no
        `index/*`), and on other targets' tables only the actions it names for them."""
        table = self.tables[target]
        queries = "dynamodb:Query" in spec.actions
        indexes = [f"{table.table_arn}/index/{name}" for name, _, _ in spec.indexes] if queries else []
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(spec.actions), resources=[table.table_arn, *indexes])
        )
        for other, action in spec.other_tables:
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=[action], resources=[self.tables[other].table_arn])
            )
        self.data_key.grant(role, *DATA_KEY_ACTIONS)

    def _function(self, target: str, table: ToolTable) -> lambda_.Function:
        function = python_function(
            self,
            f"{target.title()}Function",
            config=self.config,
            source=target,
            description=f"gateway target '{target}' (see lambdas/{target}/tools.json)",
            logs_key=self.logs_key,
            timeout=cdk.Duration.seconds(10),
            layers=[self.shared_layer, self.powertools_layer],
            tracing=lambda_.Tracing.ACTIVE,
            exclude=["seed.json"],
            environment={
                table.env_var: self.tables[target].table_name,
                **{TARGETS[other].env_var: self.tables[other].table_name for other, _ in table.other_tables},
                "POWERTOOLS_SERVICE_NAME": target,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        self._grant_table(function.role, target, table)
        compliance.acknowledge_all(function.node.default_child, TOOL_FUNCTION_FINDINGS)
        compliance.acknowledge_policy(function.role)
        return function

    def _hold_sweeper(self) -> lambda_.Function:
        """Return lapsed stock holds every SWEEP_EVERY (see lambdas/hold_sweeper: why a schedule, not TTL)."""
        table = self.tables["inventory"]
        function = python_function(
            self,
            "HoldSweeperFunction",
            config=self.config,
            source="hold_sweeper",
            description="returns lapsed stock holds to the inventory (scheduled)",
            logs_key=self.logs_key,
            timeout=cdk.Duration.seconds(60),
            layers=[self.shared_layer],
            environment={TARGETS["inventory"].env_var: table.table_name},
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(HOLD_SWEEPER_ACTIONS["table"]), resources=[table.table_arn])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(HOLD_SWEEPER_ACTIONS["by_expiry"]),
                resources=[f"{table.table_arn}/index/by_expiry"],
            )
        )
        self.data_key.grant(function, *DATA_KEY_ACTIONS)
        schedule = events.Rule(
            self,
            "HoldSweepSchedule",
            description=f"{self.config.name}: return lapsed stock holds",
            schedule=events.Schedule.rate(SWEEP_EVERY),
            targets=[events_targets.LambdaFunction(function, retry_attempts=0)],
        )
        compliance.acknowledge(schedule.node.default_child, "Serverless-EventBusDLQ", _NO_DEAD_LETTER)
        compliance.acknowledge_all(function.node.default_child, SWEEPER_FINDINGS)
        compliance.acknowledge_policy(function.role)
        return function
