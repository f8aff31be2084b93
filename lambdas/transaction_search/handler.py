"""Custom resource (through the CDK Provider framework): turn X-Ray Transaction Search on, idempotently.

`AWS::XRay::TransactionSearchConfig` fails with AlreadyExists in an account where Transaction Search is on
already, and deleting it turns Transaction Search off for every application of the account. This handler:
- Create/Update: when the account's trace segment destination is already `CloudWatchLogs`, Transaction
  Search is on (the console, another application, an earlier deploy): it is adopted and nothing is changed.
  Otherwise it puts the Logs resource policy that lets X-Ray write spans to `aws/spans` (PutResourcePolicy
  replaces a policy of the same name, so a re-deploy never collides), sets the destination to
  `CloudWatchLogs` and the `Default` indexing rule to the configured percentage (Enable-TransactionSearch,
  steps 1-3 of the AWS guide).
- Delete: changes nothing. Transaction Search is an account setting other applications rely on, and the
  Logs policy is what lets X-Ray deliver their spans.

A failed AWS call raises one line naming the call and AWS's error; the Provider framework reports it to
CloudFormation as the resource's failure reason. Standard library and the runtime's boto3 only.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

PHYSICAL_ID = "transaction-search"  # one per account and region; stable, so an update never replaces it
ON = "CloudWatchLogs"
INDEXING_RULE = "Default"

logger = logging.getLogger("transaction_search")
logger.setLevel(logging.INFO)


class TransactionSearchError(RuntimeError):
    """An AWS call failed; the message is what CloudFormation shows as the reason."""


def _call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """One AWS call; any failure becomes a one-line TransactionSearchError naming the call."""
    service = client.meta.service_model.service_id
    try:
        return getattr(client, operation)(**params)
    except ClientError as error:
        details = error.response.get("Error", {})
        raise TransactionSearchError(
            f"{service} {error.operation_name} failed: {details.get('Code')}: {details.get('Message')}"
        ) from error
    except BotoCoreError as error:
        raise TransactionSearchError(f"{service} {operation} failed: {error}") from error


def _percent(properties: dict[str, Any]) -> float:
    """`IndexingPercentage` as CloudFormation sends it (a string), checked like the config does."""
    raw = properties.get("IndexingPercentage")
    try:
        percent = float(raw)
    except (TypeError, ValueError):
        raise TransactionSearchError(f"IndexingPercentage must be a number, got {raw!r}") from None
    if not 0 < percent <= 100:
        raise TransactionSearchError(f"IndexingPercentage must be between 0 and 100, got {raw!r}")
    return percent


def ensure_on(xray: Any, logs: Any, properties: dict[str, Any]) -> str:
    """Adopt Transaction Search when it is on, else turn it on; returns `adopted` or `enabled`."""
    current = _call(xray, "get_trace_segment_destination")
    if current.get("Destination") == ON:
        logger.info(json.dumps({"message": "Transaction Search already on: adopted", **current}))
        return "adopted"
    percent = _percent(properties)
    _call(
        logs,
        "put_resource_policy",
        policyName=properties["LogsPolicyName"],
        policyDocument=properties["LogsPolicyDocument"],
    )
    _call(xray, "update_trace_segment_destination", Destination=ON)
    _call(
        xray,
        "update_indexing_rule",
        Name=INDEXING_RULE,
        Rule={"Probabilistic": {"DesiredSamplingPercentage": percent}},
    )
    logger.info(json.dumps({"message": "Transaction Search enabled", "indexing_percent": percent}))
    return "enabled"


def handle(event: dict[str, Any], xray: Any, logs: Any) -> dict[str, Any]:
    """The Provider framework's onEvent contract: a physical id, and `Outcome` as a resource attribute."""
    request = event.get("RequestType")
    if request == "Delete":
        logger.info(json.dumps({"message": "delete: Transaction Search left as it is"}))
        return {"PhysicalResourceId": event.get("PhysicalResourceId", PHYSICAL_ID)}
    if request not in ("Create", "Update"):
        raise TransactionSearchError(f"unknown RequestType {request!r}")
    outcome = ensure_on(xray, logs, event.get("ResourceProperties") or {})
    return {"PhysicalResourceId": PHYSICAL_ID, "Data": {"Outcome": outcome}}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("RequestType") == "Delete":
        return handle(event, None, None)
    return handle(event, boto3.client("xray"), boto3.client("logs"))
