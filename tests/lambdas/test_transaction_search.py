"""The Transaction Search custom resource: adopts an account where it is on, turns it on otherwise, never off.

The X-Ray and CloudWatch Logs clients are real boto3 clients whose network is replaced by botocore's
Stubber (the doubles of the two endpoints): every expected request and every answer is validated against
the services' models, and a call that was not expected fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from local.lambda_context import LAMBDAS_DIR, load_handler

POLICY_NAME = "agentcore-transaction-search"
POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents"}]}
)


@pytest.fixture(scope="module")
def handler() -> ModuleType:
    return load_handler(LAMBDAS_DIR / "transaction_search")


@pytest.fixture
def aws() -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    """Stubbed X-Ray and Logs clients; every queued answer must have been used by the end of the test."""
    credentials = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    xray, logs = boto3.client("xray", **credentials), boto3.client("logs", **credentials)
    with Stubber(xray) as xray_stub, Stubber(logs) as logs_stub:
        yield xray, xray_stub, logs, logs_stub
        xray_stub.assert_no_pending_responses()
        logs_stub.assert_no_pending_responses()


def event(request: str, percent: str = "1", **extra: Any) -> dict[str, Any]:
    """An onEvent request as the CDK Provider framework passes it on from CloudFormation."""
    return {
        "RequestType": request,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent",
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/dev-Account/guid",
        "RequestId": "request-1",
        "LogicalResourceId": "TransactionSearchOn",
        "ResourceType": "Custom::TransactionSearch",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent",
            "IndexingPercentage": percent,
            "LogsPolicyName": POLICY_NAME,
            "LogsPolicyDocument": POLICY,
        },
        **extra,
    }


def destination(stub: Stubber, where: str, status: str = "ACTIVE") -> None:
    stub.add_response("get_trace_segment_destination", {"Destination": where, "Status": status}, {})


@pytest.mark.parametrize("request_type", ["Create", "Update"])
@pytest.mark.parametrize("status", ["ACTIVE", "PENDING"])
def test_an_account_with_transaction_search_on_is_adopted_without_any_change(
    handler, aws, request_type, status
):
    xray, xray_stub, logs, _ = aws
    destination(xray_stub, "CloudWatchLogs", status)  # nothing else is queued: any write fails the test
    extra = {"PhysicalResourceId": handler.PHYSICAL_ID} if request_type == "Update" else {}
    result = handler.handle(event(request_type, percent="50", **extra), xray, logs)
    assert result == {"PhysicalResourceId": handler.PHYSICAL_ID, "Data": {"Outcome": "adopted"}}


@pytest.mark.parametrize(("percent", "expected"), [("1", 1.0), ("12.5", 12.5), ("100", 100.0)])
def test_an_account_without_it_gets_the_policy_the_destination_and_the_configured_percentage(
    handler, aws, percent, expected
):
    xray, xray_stub, logs, logs_stub = aws
    destination(xray_stub, "XRay")
    logs_stub.add_response(
        "put_resource_policy",
        {"resourcePolicy": {"policyName": POLICY_NAME, "policyDocument": POLICY}},
        {"policyName": POLICY_NAME, "policyDocument": POLICY},
    )
    xray_stub.add_response(
        "update_trace_segment_destination",
        {"Destination": "CloudWatchLogs", "Status": "PENDING"},
        {"Destination": "CloudWatchLogs"},
    )
    xray_stub.add_response(
        "update_indexing_rule",
        {
            "IndexingRule": {
                "Name": "Default",
                "Rule": {"Probabilistic": {"DesiredSamplingPercentage": expected}},
            }
        },
        {"Name": "Default", "Rule": {"Probabilistic": {"DesiredSamplingPercentage": expected}}},
    )
    result = handler.handle(event("Create", percent=percent), xray, logs)
    assert result == {"PhysicalResourceId": handler.PHYSICAL_ID, "Data": {"Outcome": "enabled"}}


def test_delete_turns_nothing_off_and_calls_no_aws_api(handler, aws):
    xray, _, logs, _ = aws  # nothing queued: any call would fail
    assert handler.handle(event("Delete", PhysicalResourceId="transaction-search"), xray, logs) == {
        "PhysicalResourceId": "transaction-search"
    }
    # the Lambda entry point does not even build clients for a delete
    assert handler.lambda_handler(event("Delete", PhysicalResourceId="transaction-search"), None) == {
        "PhysicalResourceId": "transaction-search"
    }


def test_an_aws_error_is_one_line_naming_the_call_and_stops_before_the_next_change(handler, aws):
    xray, xray_stub, logs, logs_stub = aws
    destination(xray_stub, "XRay")
    logs_stub.add_response("put_resource_policy", {}, {"policyName": POLICY_NAME, "policyDocument": POLICY})
    xray_stub.add_client_error(
        "update_trace_segment_destination",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: xray:UpdateTraceSegmentDestination",
        http_status_code=403,
    )
    with pytest.raises(handler.TransactionSearchError) as failure:
        handler.handle(event("Create"), xray, logs)  # update_indexing_rule is never called (not queued)
    message = str(failure.value)
    assert message == (
        "XRay UpdateTraceSegmentDestination failed: AccessDeniedException: "
        "User is not authorized to perform: xray:UpdateTraceSegmentDestination"
    )
    assert "\n" not in message


def test_a_failing_first_read_changes_nothing(handler, aws):
    xray, xray_stub, logs, _ = aws
    xray_stub.add_client_error("get_trace_segment_destination", "ThrottledException", "Rate exceeded", 429)
    with pytest.raises(
        handler.TransactionSearchError, match="XRay GetTraceSegmentDestination failed: Throttled"
    ):
        handler.handle(event("Create"), xray, logs)


@pytest.mark.parametrize("percent", ["", "lots", "0", "101"])
def test_a_bad_percentage_is_refused_before_anything_is_written(handler, aws, percent):
    xray, xray_stub, logs, _ = aws
    destination(xray_stub, "XRay")
    with pytest.raises(handler.TransactionSearchError, match="IndexingPercentage must be"):
        handler.handle(event("Create", percent=percent), xray, logs)


def test_an_unknown_request_type_is_refused(handler, aws):
    xray, _, logs, _ = aws
    with pytest.raises(handler.TransactionSearchError, match="unknown RequestType 'Replace'"):
        handler.handle(event("Replace"), xray, logs)
