"""AWS clients and settings shared by the tool functions, created once per execution environment."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from gateway_tool.errors import ErrorCode, ToolError

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
)
"""Fail within seconds: the gateway (and the model) waits on this call."""


@cache
def dynamodb_client() -> Any:
    """The low-level DynamoDB client (cached; tests call `dynamodb_client.cache_clear()` under moto)."""
    return boto3.client("dynamodb", config=_CLIENT_CONFIG)


def required_env(name: str) -> str:
    """Read a setting the stack must provide; a missing one is a deployment bug, reported as INTERNAL."""
    value = os.environ.get(name, "")
    if not value:
        raise ToolError(ErrorCode.INTERNAL, f"the function is misconfigured: {name} is not set")
    return value
