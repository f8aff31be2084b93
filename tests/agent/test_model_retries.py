"""One retry layer with a known budget, counted at the wire against the local ConverseStream server."""

from __future__ import annotations

import itertools

import pytest
from agentcore_agent.agent_factory import default_model, default_retry_strategy
from agentcore_agent.model_retries import MAX_ATTEMPTS, ModelRetries

from local.bedrock_runtime import HttpError, StreamError
from local.scripted_model import Text
from tests.agent.bedrock_fixtures import FAST_RETRIES, MODEL_ID
from tests.agent.conftest import settings

pytest_plugins = ["tests.agent.bedrock_fixtures"]


def test_production_budget_is_4_attempts_and_7_seconds_of_waiting():
    strategy = default_retry_strategy()
    assert isinstance(strategy, ModelRetries)
    assert strategy.max_attempts == MAX_ATTEMPTS == 4
    assert strategy.delays() == (1, 2, 4)
    assert strategy.max_wait_seconds == 7


def test_botocore_does_not_retry_on_its_own(bedrock_endpoint):
    client = default_model(settings(MODEL_ID=MODEL_ID)).client
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_persistent_throttling_is_attempted_exactly_max_attempts_times(bedrock, bedrock_agent):
    bedrock.script(HttpError("ThrottlingException"))
    reply = bedrock_agent.post({"prompt": "hello"}, session=None)
    assert reply.events[-1]["error"] == "ModelThrottled"
    assert reply.events[-1]["retryable"] is True
    arrivals = bedrock.arrivals()
    assert len(arrivals) == MAX_ATTEMPTS  # not 3 botocore attempts inside each of them (12)
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    expected = ModelRetries(**FAST_RETRIES).delays()
    assert expected == (0.01, 0.02, 0.04)
    assert all(gap >= delay for gap, delay in zip(gaps, expected, strict=True)), (gaps, expected)


def test_one_throttle_then_success_answers(bedrock, bedrock_agent):
    bedrock.script(HttpError("ThrottlingException"), Text("Back to normal."))
    reply = bedrock_agent.post({"prompt": "hello"}, session=None)
    assert reply.text == "Back to normal."
    assert reply.events[-1] == {"type": "end", "stop_reason": "end_turn"}
    assert len(bedrock.requests) == 2


def test_the_request_reaches_the_wire_as_converse_stream(bedrock, bedrock_agent):
    bedrock.script(Text("Hi."))
    assert bedrock_agent.post({"prompt": "hello there"}, session=None).text == "Hi."
    (request,) = bedrock.requests
    assert request.model_id == MODEL_ID
    assert request.body["messages"][-1] == {"role": "user", "content": [{"text": "hello there"}]}
    assert request.body["system"][0]["text"].startswith("You are a test agent.")


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailableException"])
def test_an_error_inside_a_started_stream_is_not_retried(bedrock, bedrock_agent, code):
    # Text already reached the caller: a retry would send it twice, so the caller is told to retry instead.
    bedrock.script(StreamError(code, text="The answer is "), Text("duplicate"))
    reply = bedrock_agent.post({"prompt": "hello"}, session=None)
    assert len(bedrock.requests) == 1
    assert reply.text == "The answer is "
    assert reply.events[-1]["type"] == "error" and reply.events[-1]["retryable"] is True
