"""AWS clients and settings shared by the tool functions, created once per execution environment.

The client is built on a plain botocore session: boto3 adds nothing the tools use (they call the low-level
client) but its import pulls in s3transfer and its resource layer. botocore itself is imported on first use,
so an import of a handler that never reaches DynamoDB (tests, a tracing-off cold start) does not pay for it;
with tracing on, the X-Ray patch has already imported it during init.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from gateway_tool.errors import ErrorCode, ToolError

CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"mode": "standard", "max_attempts": 3},
    "connect_timeout": 2,
    "read_timeout": 5,
}
"""botocore `Config` arguments. Fail within seconds: the gateway (and the model) waits on this call."""


@cache
def botocore_session() -> Any:
    """The execution environment's botocore session: its loader keeps the parsed service models (a new session
    parses ~1 MB of endpoint and service JSON again for its first client)."""
    import botocore.session

    return botocore.session.get_session()


@cache
def dynamodb_client() -> Any:
    """The low-level DynamoDB client (cached; tests call `dynamodb_client.cache_clear()` under moto)."""
    from botocore.config import Config

    return botocore_session().create_client("dynamodb", config=Config(**CLIENT_CONFIG))


def required_env(name: str) -> str:
    """Read a setting the stack must provide; a missing one is a deployment bug, reported as INTERNAL."""
    value = os.environ.get(name, "")
    if not value:
        raise ToolError(ErrorCode.INTERNAL, f"the function is misconfigured: {name} is not set")
    return value
