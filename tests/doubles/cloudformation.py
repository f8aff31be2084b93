"""Test double for CloudFormation stack outputs: a real botocore client with stubbed describe_stacks answers.

The client is a genuine `boto3.client("cloudformation")`, so botocore validates every stubbed response against
the service model; only the network is replaced, by a `botocore.stub.Stubber` loaded with one answer per
stack, in call order.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber


def stubbed_cloudformation(stacks: dict[str, dict[str, str] | None], region: str = "us-east-1") -> Any:
    """A client answering describe_stacks per stack in order: its outputs, or "does not exist" for None."""
    client = boto3.client(
        "cloudformation", region_name=region, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    for name, outputs in stacks.items():
        if outputs is None:
            stubber.add_client_error(
                "describe_stacks", "ValidationError", f"Stack with id {name} does not exist", 400
            )
            continue
        stack = {
            "StackName": name,
            "CreationTime": "2026-01-01T00:00:00Z",
            "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
        }
        stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": name})
    stubber.activate()
    return client
