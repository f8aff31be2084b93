"""The agent's real HTTP server with the real BedrockModel talking to the local ConverseStream server.

Use with `pytest_plugins = ["tests.agent.bedrock_fixtures"]`. Both servers are module-scoped (starting the
agent and its boto3 client once per module keeps the wire tests fast); `bedrock` is reset before each test.
The agent runs the production retry policy with millisecond delays (`FAST_RETRIES`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agentcore_agent.app import create_app
from agentcore_agent.model_retries import ModelRetries

from local.bedrock_runtime import ConverseStreamServer, running_converse_stream
from tests.agent.conftest import Server, serve, settings

MODEL_ID = "anthropic.claude-test-v1:0"


def scripted_model_id(name: str) -> str:
    """A model id of its own for one agent's script, shaped like a Claude id: Strands sends tool results'
    `status` only to Claude models, which the stages deploy."""
    return f"anthropic.claude-scripted-{name}-v1:0"


FAST_RETRIES = {"initial_delay": 0.01, "max_delay": 0.04}  # the production shape (4 attempts), in ms


@pytest.fixture(scope="module")
def bedrock_endpoint() -> Iterator[ConverseStreamServer]:
    """The local ConverseStream server, with dummy credentials and bedrock-runtime pointed at it."""
    with pytest.MonkeyPatch.context() as patch, running_converse_stream() as server:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(name, "testing")
        patch.delenv("AWS_PROFILE", raising=False)
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.endpoint_url)
        yield server


@pytest.fixture
def bedrock(bedrock_endpoint: ConverseStreamServer) -> ConverseStreamServer:
    """The local ConverseStream server with no script and no recorded requests."""
    bedrock_endpoint.reset()
    return bedrock_endpoint


@pytest.fixture(scope="module")
def bedrock_agent(bedrock_endpoint: ConverseStreamServer) -> Iterator[Server]:
    """The agent server using the production model factory (BedrockModel + botocore config)."""
    app = create_app(settings(MODEL_ID=MODEL_ID), retry_factory=lambda: ModelRetries(**FAST_RETRIES))
    with serve(app) as port:
        yield Server(port=port)
