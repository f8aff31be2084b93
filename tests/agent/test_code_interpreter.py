"""The `execute_python` tool end to end without AWS: the app as `__main__` wires it → the real SDK and
botocore (SigV4, REST-JSON, event stream) → a local Code Interpreter double that really runs the Python.

Covers the model seeing the result, one interpreter session per agent session (lazy start, stop on eviction
and on close), and every failure staying a readable tool error while the answer still arrives.
"""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from agentcore_agent.__main__ import wire_app
from agentcore_agent.code_interpreter import (
    MAX_CODE_CHARS,
    MAX_OUTPUT_CHARS,
    CodeInterpreterTool,
    check_code,
    format_result,
    truncate,
)
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from strands import ModelRetryStrategy

from local.eventstream import exception_message
from local.scripted_model import ScriptedModel, Text, ToolCall
from tests.agent.conftest import SESSION_A, SESSION_B, Reply, Server, serve, settings
from tests.agent.gateway_fixtures import offered, tool_results
from tests.doubles.code_interpreter_server import (
    INVOKE,
    START,
    STOP,
    CodeInterpreterServer,
    Failure,
    result_event,
    run_python,
    running_code_interpreter,
)

pytest_plugins = ["tests.agent.gateway_fixtures"]  # fixture: aws_env

INTERPRETER_ID = "agentcore_cdk_dev_interpreter-a1B2c3D4e5"
POWER = ToolCall("execute_python", {"code": "print(2**10)"})
ANSWER = Text("2 to the 10th is 1024.")


@dataclass
class Wired:
    """The wired agent server, its model and the interpreter double; `close()` is wire_app's close."""

    server: Server
    model: ScriptedModel
    double: CodeInterpreterServer
    close: Callable[[], None]

    def ask(self, prompt: str = "What is 2**10?", session: str | None = SESSION_A) -> Reply:
        reply = self.server.post({"prompt": prompt}, session=session)
        assert reply.status == 200, reply.body
        return reply

    def result(self, call: int = 1) -> dict[str, Any]:
        """The one toolResult the model saw on `call`."""
        (result,) = tool_results(self.model, call)[-1:]
        return result


@pytest.fixture
def double(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[CodeInterpreterServer]:
    with running_code_interpreter(INTERPRETER_ID) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", server.endpoint_url)
        yield server


@pytest.fixture
def start(double: CodeInterpreterServer) -> Iterator[Callable[..., Wired]]:
    """`start(turns, **env)` → the app exactly as `__main__` wires it, with CODE_INTERPRETER_ID set."""
    running: list[tuple[Any, Callable[[], None]]] = []

    def launch(turns: list[Any], **env: str) -> Wired:
        model = ScriptedModel(turns)
        app, close = wire_app(
            settings(CODE_INTERPRETER_ID=INTERPRETER_ID, **env),
            model_factory=lambda _settings: model,
            retry_factory=lambda: ModelRetryStrategy(max_attempts=1),
        )
        context = serve(app)
        port = context.__enter__()
        running.append((context, close))
        return Wired(Server(port=port, model=model), model, double, close)

    yield launch
    for context, close in reversed(running):
        context.__exit__(None, None, None)
        close()


class Owner:
    """Stands in for an agent: weak-referenceable, with the state `build_agent` sets."""

    class state:  # mimics `agent.state.get`
        @staticmethod
        def get(key: str) -> str:
            return "session-direct"


def text_of(result: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in result["content"])


def assert_answered(reply: Reply, text: str = ANSWER.text) -> None:
    """The user got the model's answer and a clean end: no error event, no stack trace (of the agent: a
    tool_result event shows the tool's output as the model read it, which is the code's own traceback when the
    code failed)."""
    assert reply.text == text
    assert reply.events[-1] == {"type": "end", "stop_reason": "end_turn"}
    agents_own = [e for e in reply.events if not (isinstance(e, dict) and e.get("type") == "tool_result")]
    assert "Traceback" not in json.dumps(agents_own)


# --- the double's wire format ------------------------------------------------------------------------------


def test_event_stream_encoder_round_trips_through_botocore_and_its_crcs_are_checked():
    result = run_python("print(6 * 7)", timeout=5)
    buffer = EventStreamBuffer()
    buffer.add_data(result_event(result) + exception_message("ThrottlingException", "slow down"))
    first, second = list(buffer)
    assert first.headers == {
        ":message-type": "event",
        ":event-type": "result",
        ":content-type": "application/json",
    }
    assert json.loads(first.payload)["structuredContent"]["stdout"] == "42\n"
    assert second.headers[":exception-type"] == "throttlingException"
    assert second.to_response_dict()["status_code"] == 400

    corrupted = bytearray(result_event(result))
    corrupted[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    bad = EventStreamBuffer()
    bad.add_data(bytes(corrupted))
    with pytest.raises(ChecksumMismatch):
        list(bad)


# --- happy path and session lifecycle ----------------------------------------------------------------------


def test_model_runs_python_in_the_custom_interpreter_and_sees_1024(start):
    wired = start([POWER, ANSWER])
    reply = wired.ask()

    assert_answered(reply)
    assert {"type": "tool", "name": "execute_python"} in reply.events
    spec = next(s for s in wired.model.requests[0].tool_specs if s["name"] == "execute_python")
    assert "print()" in spec["description"] and "code" in spec["inputSchema"]["json"]["properties"]
    result = wired.result(1)
    assert result["status"] == "success"
    assert text_of(result) == "exit code: 0\nstdout:\n1024"

    (started,) = wired.double.ledger.calls(START)
    (invoked,) = wired.double.ledger.calls(INVOKE)
    assert started.identifier == invoked.identifier == INTERPRETER_ID  # never the AWS-managed interpreter
    assert started.body["sessionTimeoutSeconds"] == 900
    assert SESSION_A in started.body["name"]
    session_id = wired.double.ledger.started_sessions()[0]
    assert invoked.session_id == session_id
    assert invoked.body == {
        "name": "executeCode",
        "arguments": {"code": "print(2**10)", "language": "python", "clearContext": False},
    }
    assert "/us-east-1/bedrock-agentcore/aws4_request" in invoked.headers["authorization"]  # real SigV4
    assert wired.double.ledger.calls(STOP) == []  # the session lives as long as the agent


def test_no_interpreter_session_until_the_tool_is_used(start):
    wired = start([ANSWER])
    assert_answered(wired.ask())
    assert "execute_python" in offered(wired.model)
    assert wired.double.ledger.requests == []
    wired.close()
    assert wired.double.ledger.requests == []  # nothing to stop either


def test_tool_is_not_offered_without_code_interpreter_id(aws_env):
    model = ScriptedModel([ANSWER])
    app, close = wire_app(settings(), model_factory=lambda _settings: model)
    with serve(app) as port:
        assert_answered(Server(port=port, model=model).post({"prompt": "hi"}))
    close()
    assert offered(model) == []


def test_one_interpreter_session_per_agent_session_across_turns(start):
    wired = start([POWER, ANSWER, POWER, ANSWER, POWER, ANSWER])
    wired.ask(session=SESSION_A)
    wired.ask(session=SESSION_A)
    wired.ask(session=SESSION_B)

    starts, invokes = wired.double.ledger.calls(START), wired.double.ledger.calls(INVOKE)
    assert len(starts) == 2 and len(invokes) == 3
    first, second = wired.double.ledger.started_sessions()
    assert [call.session_id for call in invokes] == [first, first, second]
    assert [SESSION_A in starts[0].body["name"], SESSION_B in starts[1].body["name"]] == [True, True]
    assert "1024" in text_of(wired.result(5))


def test_eviction_stops_the_evicted_agents_session_and_close_stops_the_rest(start):
    wired = start([POWER, ANSWER, POWER, ANSWER], SESSION_CACHE_SIZE="1")
    wired.ask(session=SESSION_A)
    wired.ask(session=SESSION_B)  # the cache holds one agent: session A's agent is evicted
    gc.collect()  # the agent is normally freed at once; collect in case a cycle holds it

    first, second = wired.double.ledger.started_sessions()
    assert wired.double.ledger.wait_for(lambda: wired.double.ledger.stopped_sessions() == [first])
    (stop,) = wired.double.ledger.calls(STOP)
    assert (stop.identifier, stop.session_id) == (INTERPRETER_ID, first)

    wired.close()
    assert wired.double.ledger.stopped_sessions() == [first, second]
    assert [call.session_id for call in wired.double.ledger.calls(STOP)] == [first, second]
    wired.close()  # idempotent
    assert len(wired.double.ledger.calls(STOP)) == 2


def test_python_errors_come_back_to_the_model_as_output(start):
    wired = start([ToolCall("execute_python", {"code": "print('a')\n1/0"}), Text("Division by zero.")])
    assert_answered(wired.ask(), "Division by zero.")
    result = wired.result(1)
    assert result["status"] == "success"  # the tool worked; the program failed
    text = text_of(result)
    assert text.startswith("exit code: 1\nstdout:\na\nstderr:\nTraceback")
    assert "ZeroDivisionError" in text


def test_huge_output_is_truncated_for_the_model(start):
    code = "print('x' * 100_000)\nprint('THE END')"
    wired = start([ToolCall("execute_python", {"code": code}), Text("Long.")])
    assert_answered(wired.ask(), "Long.")
    text = text_of(wired.result(1))
    assert len(text) < MAX_OUTPUT_CHARS + 100
    assert "characters omitted" in text and text.rstrip().endswith("THE END")


# --- failures: always a tool error text, and the answer still arrives --------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [("", "non-empty Python"), ("   \n", "non-empty Python"), ("#" * (MAX_CODE_CHARS + 1), "at most 20000")],
)
def test_bad_input_is_refused_without_calling_the_service(start, code, expected):
    wired = start([ToolCall("execute_python", {"code": code}), ANSWER])
    assert_answered(wired.ask())
    result = wired.result(1)
    assert result["status"] == "error" and expected in text_of(result)
    assert wired.double.ledger.requests == []


def test_service_error_is_a_tool_error_and_the_session_is_kept(start):
    wired = start([POWER, ANSWER, POWER, ANSWER])
    wired.double.fail(INVOKE, Failure("InternalServerException", "sandbox host failed"))
    assert_answered(wired.ask())
    result = wired.result(1)
    assert result["status"] == "error"
    assert text_of(result) == (
        "Python execution failed: the Code Interpreter refused the call (InternalServerException: "
        "sandbox host failed). Try again later or answer without it."
    )
    assert len(wired.double.ledger.calls(INVOKE)) == 1  # not retried: a retry could run the program twice
    assert wired.double.ledger.calls(STOP) == []

    assert_answered(wired.ask())  # the next call works in the same session
    assert "1024" in text_of(wired.result(3))
    assert len(wired.double.ledger.calls(START)) == 1


def test_exception_inside_the_event_stream_is_a_tool_error(start):
    wired = start([POWER, ANSWER])
    wired.double.fail(INVOKE, Failure("ThrottlingException", "rate exceeded", in_stream=True))
    assert_answered(wired.ask())
    result = wired.result(1)
    assert result["status"] == "error" and "throttlingException: rate exceeded" in text_of(result)


def test_start_failure_is_a_tool_error_and_the_next_call_starts_again(start):
    wired = start([POWER, ANSWER, POWER, ANSWER])
    wired.double.fail(START, Failure("AccessDeniedException", "not authorized"))
    assert_answered(wired.ask())
    text = text_of(wired.result(1))
    assert text.startswith("Could not start the Python sandbox:") and "AccessDeniedException" in text
    assert wired.double.ledger.calls(INVOKE) == []

    assert_answered(wired.ask())
    assert "1024" in text_of(wired.result(3))
    assert len(wired.double.ledger.calls(START)) == 2


def test_timeout_is_a_tool_error_and_resets_the_sandbox(start):
    wired = start([POWER, ANSWER, POWER, ANSWER], CODE_INTERPRETER_TIMEOUT_SECONDS="1")
    # The double would answer only after 10 minutes (released at teardown): a timeout error below proves
    # the client gave up at its 1 s deadline, with no wall-clock bound that a loaded machine could break.
    wired.double.fail(INVOKE, Failure(delay=600))
    assert_answered(wired.ask())

    result = wired.result(1)
    assert result["status"] == "error"
    assert text_of(result).startswith(
        "Python execution failed: the Code Interpreter did not answer in time (1 s)"
    )
    assert "sandbox was reset" in text_of(result)
    assert len(wired.double.ledger.calls(INVOKE)) == 1
    (first,) = wired.double.ledger.started_sessions()
    assert wired.double.ledger.stopped_sessions() == [first]  # the possibly still running code is abandoned

    assert_answered(wired.ask())  # a fresh session on the next call
    assert "1024" in text_of(wired.result(3))
    assert len(wired.double.ledger.started_sessions()) == 2


def test_session_ended_by_the_service_is_reported_and_replaced(start):
    wired = start([POWER, ANSWER, POWER, ANSWER, POWER, ANSWER])
    wired.ask()
    (first,) = wired.double.ledger.started_sessions()
    wired.double.ledger.set_state(first, "TERMINATED")  # e.g. its service-side timeout passed

    assert_answered(wired.ask())
    text = text_of(wired.result(3))
    assert "ResourceNotFoundException" in text and "run the code again" in text
    assert_answered(wired.ask())
    assert "1024" in text_of(wired.result(5))
    assert len(wired.double.ledger.started_sessions()) == 2


def test_unreachable_service_is_a_tool_error(aws_env, monkeypatch):
    from tests.ports import refused_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", f"http://127.0.0.1:{refused_port()}")
    tool = CodeInterpreterTool(region="us-east-1", interpreter_id=INTERPRETER_ID, timeout_seconds=1)
    owner = Owner()
    result = tool.run(owner, "print(1)")
    tool.close()
    assert result["status"] == "error"
    assert text_of(result).startswith("Could not start the Python sandbox: the Code Interpreter could not be")


# --- the tool object directly ------------------------------------------------------------------------------


def test_old_session_is_restarted_before_the_service_ends_it(double):
    tool = CodeInterpreterTool(region="us-east-1", interpreter_id=INTERPRETER_ID, reap_interval=0.05)
    owner = Owner()
    try:
        assert tool.run(owner, "print(1)")["status"] == "success"
        tool.max_session_age = 0  # as if the session were about to reach sessionTimeoutSeconds
        text = text_of(tool.run(owner, "print(2)"))
        assert text.startswith("(the sandbox had expired and was restarted: earlier variables are gone)")
        assert text.endswith("stdout:\n2")
        first, second = double.ledger.started_sessions()
        assert double.ledger.stopped_sessions() == [first]
        assert tool.live_sessions == 1

        reference = weakref.ref(owner)
        del owner
        gc.collect()
        assert reference() is None
        assert double.ledger.wait_for(lambda: double.ledger.stopped_sessions() == [first, second])
        assert tool.live_sessions == 0
    finally:
        tool.close()


def test_check_code_and_truncate():
    assert check_code("print(1)") is None
    assert "non-empty" in (check_code(None) or "")
    assert truncate("abc", 10) == "abc"
    cut = truncate("a" * 50 + "b" * 50, 30)
    assert cut.startswith("a" * 20) and cut.endswith("b" * 10) and "[... 70 characters omitted ...]" in cut


def test_format_result_falls_back_to_text_content_and_reports_empty_output():
    only_text = [{"result": {"content": [{"type": "text", "text": "hi\n"}], "isError": True}}]
    assert format_result(only_text) == "exit code: 1\nstdout:\nhi"
    empty = [{"result": {"content": [], "structuredContent": {"stdout": "", "stderr": "", "exitCode": 0}}}]
    assert format_result(empty) == "exit code: 0\n(no output: print() the values you need)"
