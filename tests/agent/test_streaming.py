"""The real HTTP server streams the agent's answer, keeps sessions apart and reports model errors clearly."""

from __future__ import annotations

import logging

from agentcore_agent.system_prompt import compose
from botocore.exceptions import ClientError, EndpointConnectionError
from strands import ModelRetryStrategy, tool

from local.scripted_model import Fail, Text, ToolCall, throttled
from tests.agent.conftest import SESSION_A, SESSION_B


def test_ping_reports_healthy(start_server):
    server = start_server()
    reply = server.get("/ping")
    assert reply.status == 200
    assert reply.json()["status"] == "Healthy"


def test_answer_streams_as_sse_chunks_that_join_to_the_scripted_text(start_server):
    server = start_server([Text("The quick brown fox jumps.", chunks=4)])
    reply = server.post({"prompt": "Tell me about foxes"})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    texts = [e["text"] for e in reply.events if e["type"] == "text"]
    assert len(texts) == 4  # streamed as it was produced, not buffered into one event
    assert "".join(texts) == "The quick brown fox jumps."
    assert reply.events[-1] == {"type": "end", "stop_reason": "end_turn"}
    # The model got the prompt and the configured system prompt.
    assert server.model.requests[0].system_prompt == compose("You are a test agent.")
    assert server.model.requests[0].messages[-1]["content"][0]["text"] == "Tell me about foxes"


def test_tool_call_turn_runs_the_tool_and_streams_the_final_answer(start_server):
    calls: list[tuple[int, int]] = []

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        calls.append((a, b))
        return a + b

    server = start_server([ToolCall("add", {"a": 2, "b": 3}), Text("2 + 3 = 5")], tools=[add])
    reply = server.post({"prompt": "What is 2 + 3?"})
    assert reply.status == 200
    assert calls == [(2, 3)]
    assert {"type": "tool", "name": "add"} in reply.events
    assert reply.text == "2 + 3 = 5"
    # The second model call saw the tool's result.
    results = [
        block["toolResult"]
        for message in server.model.requests[1].messages
        for block in message["content"]
        if "toolResult" in block
    ]
    assert results and results[0]["status"] == "success"
    assert results[0]["content"][0]["text"] == "5"
    assert [spec["name"] for spec in server.model.requests[0].tool_specs] == ["add"]


def _user_texts(messages):
    return [m["content"][0]["text"] for m in messages if m["role"] == "user" and "text" in m["content"][0]]


def test_second_turn_in_a_session_sends_the_first_turn_to_the_model(start_server):
    server = start_server([Text("My name is Ada."), Text("You asked my name.")])
    assert server.post({"prompt": "What is your name?"}, session=SESSION_A).text == "My name is Ada."
    assert server.post({"prompt": "What did I ask?"}, session=SESSION_A).text == "You asked my name."
    second = server.model.requests[1].messages
    assert _user_texts(second) == ["What is your name?", "What did I ask?"]
    assert second[1]["role"] == "assistant" and second[1]["content"][0]["text"] == "My name is Ada."


def test_different_sessions_are_isolated(start_server):
    server = start_server([Text("one"), Text("two"), Text("three")])
    server.post({"prompt": "first in A"}, session=SESSION_A)
    server.post({"prompt": "first in B"}, session=SESSION_B)
    server.post({"prompt": "second in A"}, session=SESSION_A)
    assert _user_texts(server.model.requests[1].messages) == ["first in B"]
    assert _user_texts(server.model.requests[2].messages) == ["first in A", "second in A"]


def test_missing_session_id_gets_a_one_off_conversation(start_server):
    server = start_server([Text("one"), Text("two")])
    assert server.post({"prompt": "remember 42"}, session=None).text == "one"
    assert server.post({"prompt": "what number?"}, session=None).text == "two"
    assert _user_texts(server.model.requests[1].messages) == ["what number?"]


def test_session_cache_is_bounded_and_evicts_the_least_recently_used(start_server):
    server = start_server([Text("ok")], env={"SESSION_CACHE_SIZE": "1"})
    server.post({"prompt": "a1"}, session=SESSION_A)
    server.post({"prompt": "b1"}, session=SESSION_B)  # evicts A
    server.post({"prompt": "a2"}, session=SESSION_A)
    assert _user_texts(server.model.requests[2].messages) == ["a2"]


def test_throttling_gives_the_caller_a_clear_error_and_logs_the_session(start_server, caplog):
    server = start_server([throttled()])
    with caplog.at_level(logging.ERROR, logger="agentcore_agent"):
        reply = server.post({"prompt": "hello"}, session=SESSION_A)
    assert reply.status == 200  # the stream had started; the error is its last event
    error = reply.events[-1]
    assert error["type"] == "error"
    assert error["error"] == "ModelThrottled"
    assert error["retryable"] is True
    assert error["session_id"] == SESSION_A
    assert "retry" in error["message"]
    assert b"Traceback" not in reply.body and b'File "' not in reply.body
    records = [r for r in caplog.records if getattr(r, "session_id", None) == SESSION_A]
    assert records and records[0].levelno == logging.ERROR
    assert SESSION_A in records[0].getMessage()
    assert records[0].error_code == "ModelThrottled"


def test_a_failed_turn_is_rolled_back_so_the_session_stays_usable(start_server):
    server = start_server([throttled(), Text("recovered")])
    assert server.post({"prompt": "first"}).events[-1]["error"] == "ModelThrottled"
    assert server.post({"prompt": "second"}).text == "recovered"
    assert _user_texts(server.model.requests[1].messages) == ["second"]


def test_throttling_is_retried_before_giving_up(start_server):
    server = start_server(
        [throttled(), Text("after a retry")], retry=ModelRetryStrategy(max_attempts=2, initial_delay=0)
    )
    reply = server.post({"prompt": "hello"})
    assert reply.text == "after a retry"
    assert len(server.model.requests) == 2


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"raw {code} detail"}}, "ConverseStream")


def test_access_denied_and_validation_errors_are_named_without_raw_service_detail(start_server):
    for code, expected in [
        ("AccessDeniedException", "ModelAccessDenied"),
        ("ValidationException", "ModelRequestRejected"),
    ]:
        server = start_server([Fail(_client_error(code))])
        reply = server.post({"prompt": "hello"})
        assert reply.events[-1]["error"] == expected
        assert b"raw " not in reply.body  # the service's own message stays in the log


def test_unreachable_model_endpoint_is_named(start_server):
    error = EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com/")
    server = start_server([Fail(error)])
    reply = server.post({"prompt": "hello"})
    assert reply.events[-1]["error"] == "ModelUnreachable"
    assert reply.events[-1]["retryable"] is True


def test_unexpected_model_exception_is_a_generic_error_not_a_stack_trace(start_server):
    server = start_server([Fail(RuntimeError("secret internal detail"))])
    reply = server.post({"prompt": "hello"})
    assert reply.events[-1]["type"] == "error"
    assert reply.events[-1]["error"] == "AgentError"
    assert b"secret internal detail" not in reply.body
    assert b"Traceback" not in reply.body


def test_a_tool_turn_streams_each_result_with_its_call_and_the_turns_usage(start_server):
    @tool
    def lookup(order_id: str) -> dict:
        """Look an order up."""
        return {"order_id": order_id, "status": "SHIPPED"}

    @tool
    def refuse(order_id: str) -> dict:
        """Refuse to look an order up."""
        raise ValueError(f"PERMISSION_DENIED: {order_id}")

    server = start_server(
        [ToolCall("lookup", {"order_id": "ORD-1"}), ToolCall("refuse", {"order_id": "ORD-2"}), Text("done")],
        tools=[lookup, refuse],
    )
    reply = server.post({"prompt": "Where are ORD-1 and ORD-2?"})
    results = [e for e in reply.events if e["type"] == "tool_result"]
    assert [(r["name"], r["input"], r["status"]) for r in results] == [
        ("lookup", {"order_id": "ORD-1"}, "success"),
        ("refuse", {"order_id": "ORD-2"}, "error"),
    ]
    assert '"status": "SHIPPED"' in results[0]["content"]
    assert "PERMISSION_DENIED: ORD-2" in results[1]["content"]
    types = [e["type"] for e in reply.events]
    assert types.index("tool_result") > types.index("tool")  # a result follows its call
    # Three model calls of the scripted usage (local.scripted_turns.USAGE) each, reported once, before `end`.
    assert reply.events[-2] == {"type": "usage", "inputTokens": 33, "outputTokens": 21, "totalTokens": 54}
    assert reply.events[-1] == {"type": "end", "stop_reason": "end_turn"}


def test_a_long_tool_result_is_cut_in_the_stream_and_says_so(start_server):
    from agentcore_agent.stream_events import MAX_RESULT_CHARS

    @tool
    def dump() -> str:
        """Return a lot."""
        return "x" * (MAX_RESULT_CHARS + 10)

    server = start_server([ToolCall("dump", {}), Text("ok")], tools=[dump])
    (result,) = [e for e in server.post({"prompt": "dump"}).events if e["type"] == "tool_result"]
    assert len(result["content"]) == MAX_RESULT_CHARS and result["truncated"] is True
