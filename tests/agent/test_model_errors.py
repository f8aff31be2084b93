"""Every Bedrock Runtime error, before or inside the stream, reaches the caller as a clear SSE error event."""

from __future__ import annotations

import pytest
from agentcore_agent import model_errors
from botocore.exceptions import ClientError, EventStreamError
from strands.types.exceptions import ContextWindowOverflowException

from local.bedrock_runtime import HttpError, StreamError, error_statuses, http_errors, stream_errors
from local.scripted_model import Text
from tests.agent.bedrock_fixtures import MODEL_ID

pytest_plugins = ["tests.agent.bedrock_fixtures"]

# shape -> (code the caller gets, whether the caller may retry, whether the agent retries at once)
EXPECTED = {
    "ThrottlingException": ("ModelThrottled", True, True),
    "ModelNotReadyException": ("ModelNotReady", True, True),
    "ServiceUnavailableException": ("ModelUnavailable", True, True),
    "InternalServerException": ("ModelServiceError", True, True),
    "ServiceQuotaExceededException": ("ModelQuotaExceeded", True, False),
    "ModelStreamErrorException": ("ModelStreamError", True, False),
    "ModelTimeoutException": ("ModelTimeout", True, False),
    "ModelErrorException": ("ModelError", True, False),
    "ConflictException": ("ModelConflict", True, False),
    "AccessDeniedException": ("ModelAccessDenied", False, False),
    "ValidationException": ("ModelRequestRejected", False, False),
    "ResourceNotFoundException": ("ModelNotFound", False, False),
}
RAW = "raw service detail 7f3a"  # the service's own message must stay in the log


def test_every_error_shape_of_the_service_model_is_mapped():
    assert set(EXPECTED) == set(error_statuses())


def _camel(shape: str) -> str:
    return shape[0].lower() + shape[1:]


@pytest.mark.parametrize("shape", sorted(EXPECTED))
@pytest.mark.parametrize("form", ["PascalCase", "camelCase"])
def test_both_spellings_of_a_code_are_described_alike(shape, form):
    code = shape if form == "PascalCase" else _camel(shape)
    error_class = ClientError if form == "PascalCase" else EventStreamError
    failure = model_errors.describe(error_class({"Error": {"Code": code, "Message": RAW}}, "ConverseStream"))
    assert (failure.code, failure.retryable) == EXPECTED[shape][:2]
    assert RAW not in failure.message and failure.message.endswith(".")


def _assert_error_event(reply, shape):
    code, retryable, _ = EXPECTED[shape]
    assert reply.status == 200
    event = reply.events[-1]
    assert event["type"] == "error"
    assert (event["error"], event["retryable"]) == (code, retryable)
    assert event["message"] == model_errors.describe(ClientError({"Error": {"Code": shape}}, "x")).message
    assert RAW.encode() not in reply.body and b"Traceback" not in reply.body


@pytest.mark.parametrize("shape", http_errors())
def test_http_error_before_the_stream_reaches_the_caller_as_its_error_event(bedrock, bedrock_agent, shape):
    bedrock.script(HttpError(shape, RAW))
    reply = bedrock_agent.post({"prompt": "hello"}, session=None)
    _assert_error_event(reply, shape)
    retried_at_once = EXPECTED[shape][2]
    assert len(bedrock.requests) == (4 if retried_at_once else 1)


@pytest.mark.parametrize("shape", stream_errors())
def test_exception_inside_the_stream_reaches_the_caller_as_its_error_event(bedrock, bedrock_agent, shape):
    bedrock.script(StreamError(shape, RAW, text="Partial "))
    reply = bedrock_agent.post({"prompt": "hello"}, session=None)
    _assert_error_event(reply, shape)
    assert reply.text == "Partial "
    assert len(bedrock.requests) == 1  # never retried once streaming started


def test_mid_stream_validation_error_is_not_a_generic_retryable_error(bedrock, bedrock_agent):
    bedrock.script(StreamError("ValidationException", RAW))
    event = bedrock_agent.post({"prompt": "hello"}, session=None).events[-1]
    assert event["error"] == "ModelRequestRejected" and event["retryable"] is False


def test_a_context_overflow_is_named_although_bedrock_calls_it_a_validation_error(bedrock, bedrock_agent):
    bedrock.script(HttpError("ValidationException", "Input is too long for requested model."))
    event = bedrock_agent.post({"prompt": "hello"}, session=None).events[-1]
    assert event["error"] == "ContextWindowOverflow"


def test_context_overflow_raised_from_a_validation_error_keeps_its_own_name():
    cause = ClientError({"Error": {"Code": "ValidationException", "Message": "too long"}}, "ConverseStream")
    try:
        raise ContextWindowOverflowException(cause) from cause
    except ContextWindowOverflowException as error:
        assert model_errors.describe(error).code == "ContextWindowOverflow"


def test_the_session_stays_usable_after_a_mid_stream_error(bedrock, bedrock_agent):
    session = "model-errors-0123456789-0123456789-0123456789"
    bedrock.script(StreamError("ModelStreamErrorException", RAW, text="Half an answer"), Text("Whole."))
    assert bedrock_agent.post({"prompt": "first"}, session=session).events[-1]["error"] == "ModelStreamError"
    assert bedrock_agent.post({"prompt": "second"}, session=session).text == "Whole."
    messages = bedrock.requests[1].body["messages"]
    assert [m["content"][0]["text"] for m in messages] == ["second"]  # the broken turn was rolled back
    assert bedrock.requests[1].model_id == MODEL_ID
