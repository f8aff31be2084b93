"""Vended logs and traces for AgentCore resources that have no L2 logging option (gateway, memory).

Logs go to a `/aws/vendedlogs/` group in the same account, which the log-delivery service-linked role may
write without a resource policy (each Logs resource policy uses one of only 10 account slots). Traces go to
X-Ray; the account stack holds the one X-Ray resource policy that lets log delivery write them.
"""

from __future__ import annotations

import itertools

from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import StageConfig
from stacks.encrypted_logs import encrypted_log_group


def chain_deliveries(scope: Construct) -> None:
    """Order every log delivery under `scope`: the Logs API rejects concurrent delivery changes for one
    resource (ConflictException), and an L2 may create its deliveries unordered."""
    deliveries = [c for c in scope.node.find_all() if isinstance(c, logs.CfnDelivery)]
    for previous, delivery in itertools.pairwise(deliveries):
        delivery.add_resource_dependency(previous)


def vended_log_group_name(config: StageConfig, component: str) -> str:
    """Where a component's vended logs land: one group per stage and component."""
    return f"/aws/vendedlogs/bedrock-agentcore/{config.dns_name(component)}"


def deliver_logs_and_traces(
    scope: Construct, config: StageConfig, key: kms.IKey, *, component: str, resource_arn: str
) -> logs.LogGroup:
    """APPLICATION_LOGS -> an encrypted vended log group, TRACES -> X-Ray, for one AgentCore resource."""
    group = encrypted_log_group(
        scope, "VendedLogs", config, key, name=vended_log_group_name(config, component)
    )
    destinations = {
        "APPLICATION_LOGS": logs.CfnDeliveryDestination(
            scope,
            "LogsDestination",
            name=config.dns_name(f"{component}-logs"),
            delivery_destination_type="CWL",
            destination_resource_arn=group.log_group_arn,
        ),
        "TRACES": logs.CfnDeliveryDestination(
            scope,
            "TracesDestination",
            name=config.dns_name(f"{component}-traces"),
            delivery_destination_type="XRAY",
        ),
    }
    previous: logs.CfnDelivery | None = None
    for log_type, destination in destinations.items():
        kind = log_type.split("_")[-1].title()
        source = logs.CfnDeliverySource(
            scope,
            f"{kind}Source",
            name=config.dns_name(f"{component}-{kind.lower()}"),
            log_type=log_type,
            resource_arn=resource_arn,
        )
        delivery = logs.CfnDelivery(
            scope,
            f"{kind}Delivery",
            delivery_source_name=source.ref,
            delivery_destination_arn=destination.attr_arn,
        )
        if previous is not None:
            delivery.add_resource_dependency(
                previous
            )  # the Logs API rejects concurrent delivery changes per resource
        previous = delivery
    return group
