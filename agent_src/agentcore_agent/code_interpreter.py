"""The `execute_python` tool: the model checks math and claims about code by running Python in a sandbox.

LLMs are unreliable at arithmetic and data analysis; this tool lets the agent write a short program, run it
in the stage's AgentCore Code Interpreter (a custom interpreter in network mode SANDBOX, created by the CDK
runtime stack) and answer from the output. It is offered only when CODE_INTERPRETER_ID is set.

AWS actions (all on that interpreter's ARN, which is all the runtime role is granted), through the
bedrock-agentcore SDK's `CodeInterpreter` client with `identifier=CODE_INTERPRETER_ID`:
`bedrock-agentcore:StartCodeInterpreterSession`, `InvokeCodeInterpreter` (method `executeCode`, language
python; the answer is an event stream of `result` events) and `StopCodeInterpreterSession`.

Lifecycle: one interpreter session per agent, i.e. per (actor, runtime session) in the app's session cache
(or per one-off agent), so variables persist across a conversation and conversations never share a sandbox.
- Started lazily on the agent's first `execute_python` call, stopped when the agent is gone (`per_agent.py`).
- Stopped and forgotten when a call times out (the code may still be running); the next call starts afresh.
- Restarted before SESSION_TIMEOUT_SECONDS is reached, or when the service says the session is gone; the
  result then tells the model that earlier variables are lost.
- All stopped by `close()` when the process stops (`__main__.wire_app` returns it as part of `close`).
- Backstop for a crashed process: every session is started with `sessionTimeoutSeconds`, so the service
  ends it by itself.

Failures never raise into the agent loop: bad input, service errors and timeouts become an error tool result
of one readable line (details go to the log); output is truncated to MAX_OUTPUT_CHARS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from strands import ToolContext, tool

from .per_agent import PerAgent, agent_label, session_name
from .settings import Settings

logger = logging.getLogger(__name__)

MAX_CODE_CHARS = 20_000  # a program longer than this is not a quick check; refuse it before any call
MAX_OUTPUT_CHARS = 8_000  # what the model sees of stdout + stderr: enough for results and a traceback
SESSION_TIMEOUT_SECONDS = 900  # service-side lifetime of an interpreter session (the SDK's default too)
_RESTART_MARGIN_SECONDS = 60  # restart this long before the service would end the session under us
_REAP_INTERVAL_SECONDS = 1.0
_CONNECT_TIMEOUT_SECONDS = 5


class _Reset(Exception):
    """The interpreter session had to be dropped; the message says why, for the model."""


def _error(text: str) -> dict[str, Any]:
    """An error tool result: the model reads `text`; Strands and traces mark the call as failed."""
    return {"status": "error", "content": [{"text": text}]}


def check_code(code: object) -> str | None:
    """Why `code` cannot be run, or None: refused locally so a bad call costs no session."""
    if not isinstance(code, str) or not code.strip():
        return "execute_python needs non-empty Python source in `code`."
    if len(code) > MAX_CODE_CHARS:
        return (
            f"the code is {len(code)} characters; execute_python accepts at most {MAX_CODE_CHARS}. "
            "Send a shorter program."
        )
    return None


def truncate(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the head and the tail (where a traceback's cause is) and say how much was cut."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - head - tail} characters omitted ...]\n{text[-tail:]}"


def format_result(events: Iterable[dict[str, Any]]) -> str:
    """Turn the `result` events of an `executeCode` call into the text the model sees."""
    stdout, stderr, texts = [], [], []
    exit_code: int | None = None
    is_error = False
    for event in events:
        result = event.get("result")
        if not result:
            continue
        structured = result.get("structuredContent") or {}
        stdout.append(structured.get("stdout") or "")
        stderr.append(structured.get("stderr") or "")
        if structured.get("exitCode") is not None:
            exit_code = structured["exitCode"]
        is_error = is_error or bool(result.get("isError"))
        texts += [
            block.get("text") or "" for block in result.get("content", []) if block.get("type") == "text"
        ]
    out, err = "".join(stdout), "".join(stderr)
    if not out and not err:  # no structured output: fall back to the text content blocks
        out = "".join(texts)
    if exit_code is None:
        exit_code = 1 if is_error else 0
    parts = [f"exit code: {exit_code}"]
    if out:
        parts.append(f"stdout:\n{out.rstrip()}")
    if err:
        parts.append(f"stderr:\n{err.rstrip()}")
    if not out and not err:
        parts.append("(no output: print() the values you need)")
    return truncate("\n".join(parts))


def _describe(error: BaseException) -> tuple[str, bool]:
    """(one line for the model, whether it was a timeout); never a stack trace."""
    from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
    from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

    if isinstance(error, ReadTimeoutError | ConnectTimeoutError | Urllib3ReadTimeout | TimeoutError):
        return "the Code Interpreter did not answer in time", True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code") or "Error"
        message = error.response.get("Error", {}).get("Message") or ""
        return f"the Code Interpreter refused the call ({code}: {message})".replace(" ()", ""), False
    return f"the Code Interpreter could not be reached ({type(error).__name__})", False


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class _Sandbox:
    """The interpreter session of one agent; calls are serialized (a session is one Python process)."""

    def __init__(self, owner: CodeInterpreterTool, label: str) -> None:
        self._owner = owner
        self.label = label  # the agent's runtime session id, for logs
        self._client: Any = None  # bedrock_agentcore CodeInterpreter, created on first use
        self._started_at = 0.0
        self._lock = threading.Lock()
        self.retired = False

    def execute(self, code: str) -> dict[str, Any]:
        """Run `code`, starting (or restarting) the session first when needed."""
        with self._lock:
            if self.retired:
                return _error("the Code Interpreter is shutting down; answer without it.")
            notes: list[str] = []
            if self._session_id and time.monotonic() - self._started_at > self._owner.max_session_age:
                self._stop()
                notes.append("(the sandbox had expired and was restarted: earlier variables are gone)")
            try:
                if not self._session_id:
                    self._start()
            except Exception as error:
                line, _ = _describe(error)
                logger.warning("code interpreter start failed for session %s: %s", self.label, error)
                return _error(
                    f"Could not start the Python sandbox: {line}. Try again later or answer without it."
                )
            try:
                events = self._invoke(code)
            except _Reset as reset:
                return _error(str(reset))
            return {"status": "success", "content": [{"text": "\n".join([*notes, format_result(events)])}]}

    def stop(self) -> None:
        """End the session for good (agent gone or process stopping); waits for a running call."""
        with self._lock:
            self.retired = True
            self._stop()

    @property
    def _session_id(self) -> str | None:
        return self._client.session_id if self._client is not None else None

    def _start(self) -> None:
        if self._client is None:
            self._client = self._owner.new_client()
        # Always name the identifier: the SDK's `invoke` would otherwise start the AWS-managed interpreter,
        # which the runtime role may not use.
        self._client.start(
            identifier=self._owner.interpreter_id,
            name=session_name(self.label),
            session_timeout_seconds=self._owner.session_timeout_seconds,
        )
        self._started_at = time.monotonic()
        logger.info("code interpreter session %s started for session %s", self._client.session_id, self.label)

    def _invoke(self, code: str) -> list[dict[str, Any]]:
        """One `executeCode` call; raises `_Reset` with the model's error text on any failure."""
        started = time.monotonic()
        try:
            response = self._client.invoke(
                "executeCode", {"code": code, "language": "python", "clearContext": False}
            )
            events = list(response["stream"])
        except Exception as error:
            line, timed_out = _describe(error)
            logger.warning(
                "code interpreter call failed for session %s after %.1f s: %s: %s",
                self.label,
                time.monotonic() - started,
                type(error).__name__,
                error,
            )
            if timed_out:
                self._stop()  # the code may still be running there: start a clean sandbox next time
                raise _Reset(
                    f"Python execution failed: {line} ({self._owner.timeout_seconds} s). The sandbox "
                    "was reset, so earlier variables are gone. Make the code faster or split it up."
                ) from None
            if _error_code(error) == "ResourceNotFoundException":
                self._forget()
                raise _Reset(
                    f"Python execution failed: {line}. The sandbox session had ended; run the code again "
                    "(a new sandbox starts, earlier variables are gone)."
                ) from None
            raise _Reset(f"Python execution failed: {line}. Try again later or answer without it.") from None
        logger.info(
            "code interpreter ran %d chars for session %s in %.2f s",
            len(code),
            self.label,
            time.monotonic() - started,
        )
        return events

    def _stop(self) -> None:
        """Best-effort StopCodeInterpreterSession; the service's session timeout covers a failure."""
        session_id = self._session_id
        if session_id is None:
            return
        try:
            self._client.stop()
            logger.info("code interpreter session %s stopped for session %s", session_id, self.label)
        except Exception as error:
            logger.warning("could not stop code interpreter session %s: %s", session_id, error)
        self._forget()

    def _forget(self) -> None:
        if self._client is not None:
            self._client.session_id = None
            self._client.identifier = None


class CodeInterpreterTool:
    """Process-wide owner of every agent's sandbox; `tool` is the Strands tool, `close()` ends them all."""

    def __init__(
        self,
        *,
        region: str,
        interpreter_id: str,
        timeout_seconds: float = 60,
        session_timeout_seconds: int = SESSION_TIMEOUT_SECONDS,
        reap_interval: float = _REAP_INTERVAL_SECONDS,
    ) -> None:
        self.region = region
        self.interpreter_id = interpreter_id
        self.timeout_seconds = timeout_seconds
        self.session_timeout_seconds = session_timeout_seconds
        self.max_session_age = max(
            session_timeout_seconds - _RESTART_MARGIN_SECONDS, session_timeout_seconds / 2
        )
        self._lock = threading.Lock()
        self._sandboxes = PerAgent(
            lambda agent: _Sandbox(self, agent_label(agent)),
            name="code-interpreter-reaper",
            reap_interval=reap_interval,
        )
        self._boto_session: Any = None
        self._data_plane: Any = None
        self.tool = self._make_tool()

    @classmethod
    def from_settings(cls, settings: Settings) -> CodeInterpreterTool | None:
        """The tool for this stage, or None when CODE_INTERPRETER_ID is not set."""
        if settings.code_interpreter_id is None:
            return None
        return cls(
            region=settings.region,
            interpreter_id=settings.code_interpreter_id,
            timeout_seconds=settings.code_interpreter_timeout_seconds,
        )

    @property
    def live_sessions(self) -> int:
        """Agents holding a sandbox that has not been stopped for good (started or not yet)."""
        return self._sandboxes.live

    def run(self, agent: Any, code: object) -> dict[str, Any]:
        """Execute `code` in `agent`'s sandbox; always returns a tool result, never raises."""
        problem = check_code(code)
        if problem is not None:
            return _error(problem)
        try:
            sandbox = self._sandboxes.get(agent)
            return sandbox.execute(str(code))
        except Exception:  # a bug here must not end the user's turn
            logger.exception("execute_python failed unexpectedly")
            return _error("Python execution failed because of an internal error; answer without it.")

    def close(self) -> None:
        """Stop every interpreter session; idempotent; call when the server has stopped."""
        self._sandboxes.close()

    def new_client(self) -> Any:
        """An SDK client bound to the shared data-plane client (timeouts set here, no retries)."""
        from bedrock_agentcore.tools.code_interpreter_client import CodeInterpreter

        with self._lock:
            if self._data_plane is None:
                import boto3
                from botocore.config import Config

                self._boto_session = boto3.Session()
                # No retries: a retried executeCode could run the program twice, and a slow call should
                # come back to the model soon. AWS_ENDPOINT_URL_BEDROCK_AGENTCORE is honoured by botocore.
                config = Config(
                    connect_timeout=_CONNECT_TIMEOUT_SECONDS,
                    read_timeout=self.timeout_seconds,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                )
                self._data_plane = self._boto_session.client(
                    "bedrock-agentcore", region_name=self.region, config=config
                )
            client = CodeInterpreter(self.region, session=self._boto_session)
        client.data_plane_client = self._data_plane  # the SDK's own has a 300 s read timeout and retries
        return client

    def _make_tool(self) -> Any:
        run: Callable[[Any, object], dict[str, Any]] = self.run

        @tool(name="execute_python", context=True)
        def execute_python(code: str, tool_context: ToolContext) -> dict[str, Any]:
            """Run Python 3 code in a secure, isolated sandbox and return what it printed.

            Use this whenever an answer depends on arithmetic, counting, dates, statistics, unit
            conversions or data analysis, or when you make a claim about what some code does: write a short
            program that computes or checks it, run it, and answer from its output rather than from memory.
            Only printed output comes back, so print() every value you need. Variables and imports persist
            between calls in this conversation unless a result says the sandbox was reset. The sandbox has
            no internet access. Keep programs short (at most 20,000 characters) and fast: a slow program is
            stopped.

            The result starts with `exit code: N`, then `stdout:` and `stderr:` sections (a traceback when
            the code failed); very long output is cut in the middle. If the tool itself fails, the result
            says why; then answer without it or try again.

            Args:
                code: A complete Python program; print() each result you want to see.
            """
            return run(tool_context.agent, code)

        return execute_python
