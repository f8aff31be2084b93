"""Refuses bad invocations at the HTTP boundary, before the SDK reads or parses the body.

`BedrockAgentCoreApp` parses the whole JSON body before the entrypoint runs, so checks made in the
entrypoint come too late: any caller, with or without a token, could make the container read and parse a
body of any size. `InvocationGuard` is an ASGI middleware in front of the SDK's routes that, for
`POST /invocations`, in this order:

1. verifies the caller from the headers alone (401 Unauthorized / 503 AuthUnavailable), so an
   unauthenticated request is refused before a byte of its body is read;
2. checks the session id header (400 InvalidSessionId, see `session_id_problem`);
3. refuses a body larger than `max_body_bytes` (413 PayloadTooLarge): at once from its Content-Length, or,
   for a chunked body, as soon as the bytes received pass the limit; nothing beyond the limit is read;
4. refuses a body nested deeper than Python's JSON parser can follow (400 InvalidPayload): the SDK's parse
   would end in a RecursionError, a 500 and a traceback in the log. Found by parsing the body once here
   (a few ms for the largest allowed body); the SDK then parses it again, as it always does.

The verified caller travels to the entrypoint in the ASGI scope's state (`verified_caller`). Every refusal
is the JSON shape `{"error": <code>, "message": <one line>}` of `error_response`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping

from bedrock_agentcore.runtime import RequestContext
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import Authenticator, AuthError, Caller

logger = logging.getLogger(__name__)

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
# InvokeAgentRuntime accepts 33-256 characters (botocore's bedrock-agentcore model: runtimeSessionId); the
# memory keys events by a session id of 1-100 characters of [A-Za-z0-9_-] starting with a letter or digit.
# A session must work with both, so anything else is refused rather than answered with memory silently off.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{32,99}")
_SESSION_RULE = "33-100 characters of letters, digits, '-' and '_', starting with a letter or digit"
_LOGGED_CHARS = 64
_CALLER_KEY = "agentcore_agent.caller"


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The one shape of every error this agent returns before streaming starts."""
    return JSONResponse({"error": code, "message": message}, status_code=status)


def session_id_problem(session_id: str | None) -> str | None:
    """Why the session id header is unusable, or None when it is fine (absent is fine: a one-off call)."""
    if session_id is None or SESSION_ID.fullmatch(session_id):
        return None
    return f"the {SESSION_HEADER} header must be {_SESSION_RULE} (got {len(session_id)} characters)"


def loggable(value: str | None) -> str:
    """A bounded form of an untrusted header value that cannot forge or break a log line."""
    if value is None:
        return "-"
    shown = "".join(
        c if c.isascii() and c.isprintable() else f"\\x{ord(c):02x}" for c in value[:_LOGGED_CHARS]
    )
    return shown if len(value) <= _LOGGED_CHARS else f"{shown}...({len(value)} chars)"


def verified_caller(context: RequestContext) -> Caller | None:
    """The caller `InvocationGuard` verified for this request (None when the guard did not run)."""
    request = context.request
    return None if request is None else request.scope.get("state", {}).get(_CALLER_KEY)


async def authenticate(authenticator: Authenticator, headers: Mapping[str, str] | None) -> Caller:
    """Verify the caller; key fetches block, so they run in a thread and never stall the event loop."""
    if not authenticator.enabled:
        return authenticator.authenticate(None)
    return await asyncio.to_thread(authenticator.authenticate, headers)


class _Refused(Exception):
    """The request is refused with `response`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = error_response(status, code, message)


class _ClientLeft(Exception):
    """The client disconnected before its body was complete: there is nobody to answer."""


class InvocationGuard:
    """ASGI middleware: authentication, session id and body size checks for `POST /invocations`."""

    def __init__(self, app: ASGIApp, *, authenticator: Authenticator, max_body_bytes: int) -> None:
        self.app = app
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/invocations":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            caller = await self._caller(headers)
            self._check_session_id(headers.get(SESSION_HEADER))
            self._check_declared_size(headers.get("content-length"))
            body = await self._read_body(receive)
            self._check_nesting(body)
        except _Refused as refused:
            await refused.response(scope, receive, send)
            return
        except _ClientLeft:
            return
        scope.setdefault("state", {})[_CALLER_KEY] = caller
        await self.app(scope, _replay(body, receive), send)

    async def _caller(self, headers: Headers) -> Caller:
        try:
            return await authenticate(self.authenticator, headers)
        except AuthError as error:
            session = loggable(headers.get(SESSION_HEADER))
            logger.warning("refused call (%s) in session %s: %s", error.status, session, error)
            raise _Refused(error.status, error.code, str(error)) from None

    def _check_session_id(self, session_id: str | None) -> None:
        problem = session_id_problem(session_id)
        if problem is not None:
            logger.warning("refused call (400) with session id %s: %s", loggable(session_id), problem)
            raise _Refused(400, "InvalidSessionId", problem)

    def _check_declared_size(self, declared: str | None) -> None:
        if declared is None:
            return  # chunked: counted while reading
        if not declared.isdigit():
            raise _Refused(400, "InvalidPayload", "the Content-Length header is not a number")
        if int(declared) > self.max_body_bytes:
            self._refuse_size(f"the body has {declared} bytes; the limit is {self.max_body_bytes}")

    def _refuse_size(self, message: str) -> None:
        logger.warning("refused call (413): %s", message)
        raise _Refused(413, "PayloadTooLarge", message)

    @staticmethod
    def _check_nesting(body: bytes) -> None:
        try:
            json.loads(body)
        except RecursionError:
            logger.warning("refused call (400): a body of %d bytes nests too deeply", len(body))
            raise _Refused(400, "InvalidPayload", "the body nests arrays or objects too deeply") from None
        except ValueError:
            return  # not JSON (or not UTF-8): the SDK answers 400 Invalid JSON itself

    async def _read_body(self, receive: Receive) -> bytes:
        """The whole body, counted as it arrives; stops reading as soon as it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientLeft
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                self._refuse_size(f"the body exceeds the limit of {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the already-read body once, then passes on later messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
