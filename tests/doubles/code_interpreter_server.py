"""Test double for the AgentCore Code Interpreter data plane: a real HTTP server on botocore's wire format.

The real SDK (`CodeInterpreter` → boto3 `bedrock-agentcore`) reaches it through
`AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`, so request serialisation, SigV4 signing, error parsing and event-stream
decoding all run for real. Shapes follow `botocore/data/bedrock-agentcore/2024-02-28/service-2.json`:

- `StartCodeInterpreterSession`: `PUT /code-interpreters/{id}/sessions/start`, JSON `{name,
  sessionTimeoutSeconds}` → `{codeInterpreterIdentifier, sessionId, createdAt}`.
- `InvokeCodeInterpreter`: `POST /code-interpreters/{id}/tools/invoke`, session id in the
  `x-amzn-code-interpreter-session-id` header, JSON `{name, arguments}` → 200
  `application/vnd.amazon.eventstream`: binary messages (prelude with lengths and CRC, headers
  `:message-type`, `:event-type`, `:content-type`, JSON payload, message CRC). A `result` event carries
  `content` blocks, `structuredContent {stdout, stderr, exitCode, executionTime}` and `isError`.
- `StopCodeInterpreterSession`: `PUT /code-interpreters/{id}/sessions/stop?sessionId=...` →
  `{codeInterpreterIdentifier, sessionId, lastUpdatedAt}`.
- Errors: the modelled HTTP status, an `x-amzn-ErrorType` header and `{"message": ...}`; inside a stream, an
  `exception` message whose `:exception-type` is the stream member (e.g. `throttlingException`).

It stands in for the sandbox by running `executeCode` Python in a fresh subprocess with a timeout (so unlike
the real service, variables do not persist between calls). Calls and session states are kept in a
`SessionLedger` (`ledger`, shared with the local Browser), and `fail(...)` makes chosen operations fail (HTTP
error, in-stream exception, or a delay that trips the client's read timeout).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from local.eventstream import EVENTSTREAM, event_message, exception_message
from local.http_server import JsonHandler, LocalServer
from local.tool_sessions import READY, Call, SessionLedger, error, send_answer, session_query

SESSION_HEADER = "x-amzn-code-interpreter-session-id"
START, INVOKE, STOP = "StartCodeInterpreterSession", "InvokeCodeInterpreter", "StopCodeInterpreterSession"


def result_event(result: dict[str, Any]) -> bytes:
    """A `result` event of the InvokeCodeInterpreter stream."""
    return event_message("result", result)


def run_python(code: str, timeout: float) -> dict[str, Any]:
    """Execute `code` like the sandbox would and return the `result` member in the service's shape."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=timeout, check=False
        )
        stdout, stderr, exit_code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as expired:
        stdout = (
            (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        )
        stderr, exit_code = f"execution timed out after {timeout} s", 124
    text = stdout + stderr
    return {
        "content": [{"type": "text", "text": text}],
        "structuredContent": {
            "stdout": stdout,
            "stderr": stderr,
            "exitCode": exit_code,
            "executionTime": round(time.monotonic() - started, 3),
        },
        "isError": exit_code != 0,
    }


@dataclass
class Failure:
    """How an operation fails: an HTTP error (default), an exception event mid-stream, or only a delay."""

    code: str = "InternalServerException"
    message: str = "injected failure"
    delay: float = 0.0  # seconds to wait before answering (longer than the client's read timeout = timeout)
    in_stream: bool = False  # InvokeCodeInterpreter only: 200, then an exception event
    times: int = 1  # how many calls fail; -1 means until `recover()`


class CodeInterpreterServer:
    """Serves the Code Interpreter data plane on 127.0.0.1 for one known interpreter id."""

    def __init__(self, interpreter_id: str, *, exec_timeout: float = 10.0) -> None:
        self.interpreter_id = interpreter_id
        self.exec_timeout = exec_timeout
        self.ledger = SessionLedger()
        self._failures: dict[str, Failure] = {}
        self._lock = threading.Lock()
        self._released = threading.Event()  # set on stop so delayed handlers end at once
        self._server = LocalServer(self._handler_class(), name="code-interpreter-double")

    @property
    def endpoint_url(self) -> str:
        """The value for AWS_ENDPOINT_URL_BEDROCK_AGENTCORE."""
        return self._server.url

    def fail(self, operation: str, failure: Failure | None = None) -> None:
        """Make the next `failure.times` calls of `operation` fail as described."""
        with self._lock:
            self._failures[operation] = failure or Failure()

    def recover(self) -> None:
        with self._lock:
            self._failures.clear()

    def _take_failure(self, operation: str) -> Failure | None:
        with self._lock:
            failure = self._failures.get(operation)
            if failure is None:
                return None
            if failure.times > 0:
                failure.times -= 1
                if failure.times == 0:
                    del self._failures[operation]
            return failure

    def start(self) -> CodeInterpreterServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.stop()

    def _handler_class(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def do_PUT(self) -> None:
                self._route("PUT")

            def do_POST(self) -> None:
                self._route("POST")

            def _route(self, method: str) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self._serve(method)

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                raw = self.read_body()
                body = json.loads(raw) if raw else {}
                if len(parts) < 3 or parts[0] != "code-interpreters":
                    return self._error("ValidationException", f"unknown path {url.path}")
                identifier, tail = unquote(parts[1]), "/".join(parts[2:])
                operation = {
                    ("PUT", "sessions/start"): START,
                    ("POST", "tools/invoke"): INVOKE,
                    ("PUT", "sessions/stop"): STOP,
                }.get((method, tail))
                if operation is None:
                    return self._error("ValidationException", f"unknown operation {method} {url.path}")
                session_id = self.headers.get(SESSION_HEADER) or session_query(self.path)
                call = Call(operation, identifier, session_id, body, self.lowered_headers())
                double.ledger.record(call)
                if not call.signed:
                    return self._error("AccessDeniedException", "request is not SigV4-signed")
                if identifier != double.interpreter_id:
                    return self._error("ResourceNotFoundException", f"no code interpreter {identifier}")
                failure = double._take_failure(operation)
                if failure is not None and failure.delay:
                    double._released.wait(failure.delay)
                    failure = None  # a delay alone: answer normally, after the client gave up
                elif failure is not None and not (operation == INVOKE and failure.in_stream):
                    return self._error(failure.code, failure.message)
                if operation == START:
                    return self._start(identifier, body)
                if operation == STOP:
                    return self._stop(identifier, session_id)
                return self._invoke(session_id, body, failure)

            def _start(self, identifier: str, body: dict[str, Any]) -> None:
                timeout = body.get("sessionTimeoutSeconds")
                if timeout is not None and not 1 <= timeout <= 28800:
                    return self._error("ValidationException", "sessionTimeoutSeconds out of range")
                session_id = double.ledger.open()
                now = datetime.now(UTC).isoformat()
                self._json(
                    {"codeInterpreterIdentifier": identifier, "sessionId": session_id, "createdAt": now}
                )

            def _stop(self, identifier: str, session_id: str | None) -> None:
                if not double.ledger.close(session_id):
                    return self._error("ResourceNotFoundException", f"no session {session_id}")
                now = datetime.now(UTC).isoformat()
                self._json(
                    {"codeInterpreterIdentifier": identifier, "sessionId": session_id, "lastUpdatedAt": now}
                )

            def _invoke(self, session_id: str | None, body: dict[str, Any], failure: Failure | None) -> None:
                if double.ledger.state(session_id) != READY:
                    return self._error("ResourceNotFoundException", f"session {session_id} is not active")
                arguments = body.get("arguments") or {}
                if body.get("name") != "executeCode" or arguments.get("language", "python") != "python":
                    return self._error("ValidationException", "this double only runs executeCode in python")
                if failure is not None:
                    events = exception_message(failure.code, failure.message)
                else:
                    events = result_event(run_python(arguments.get("code", ""), double.exec_timeout))
                self.send_bytes(200, events, {"Content-Type": EVENTSTREAM, SESSION_HEADER: session_id or ""})

            def _json(self, payload: dict[str, Any]) -> None:
                self.send_json(200, payload)

            def _error(self, code: str, message: str) -> None:
                send_answer(self, *error(code, message))

        return Handler


@contextmanager
def running_code_interpreter(interpreter_id: str, **options: Any) -> Iterator[CodeInterpreterServer]:
    """Start the double, yield it, stop it."""
    server = CodeInterpreterServer(interpreter_id, **options).start()
    try:
        yield server
    finally:
        server.stop()
