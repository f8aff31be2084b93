"""Bookkeeping shared by the session-based data planes (the local Browser, the Code Interpreter double).

Both AgentCore tools work the same way at the wire: `PUT /<tools>/{id}/sessions/start` opens a session,
later calls name it (query string `sessionId` or a header), `PUT .../sessions/stop?sessionId=` ends it.
`SessionLedger` keeps what such a data plane needs besides its own work: every call received (operation,
tool id, session id, body, headers: what tests assert on), each session's state (`READY`, then
`TERMINATED`), and a wait on both that wakes on every change (a readiness signal: no polling). Errors are
the data plane's REST-JSON shape: the modelled status, an `x-amzn-ErrorType` header, `{"message": ...}`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.http_server import JsonHandler

READY, TERMINATED = "READY", "TERMINATED"
STATUS = {
    "AccessDeniedException": 403,
    "ValidationException": 400,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ServiceQuotaExceededException": 402,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}


@dataclass(frozen=True)
class Call:
    """One request a session-based data plane received."""

    operation: str
    identifier: str  # the browser or code interpreter id of the path
    session_id: str | None
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def signed(self) -> bool:
        return self.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 ")


class SessionLedger:
    """The calls and session states of one data plane (thread-safe)."""

    def __init__(self) -> None:
        self.requests: list[Call] = []
        self.sessions: dict[str, str] = {}  # session id -> READY | TERMINATED, in start order
        self._changed = threading.Condition()

    def record(self, call: Call) -> None:
        with self._changed:
            self.requests.append(call)
            self._changed.notify_all()

    def calls(self, operation: str) -> list[Call]:
        """The recorded requests of one operation, in order."""
        with self._changed:
            return [call for call in self.requests if call.operation == operation]

    def open(self, session_id: str | None = None) -> str:
        """A new READY session (a fresh id unless given)."""
        session_id = session_id or uuid.uuid4().hex[:26].upper()
        self.set_state(session_id, READY)
        return session_id

    def close(self, session_id: str | None) -> bool:
        """Mark a known session TERMINATED; False when there is no such session."""
        with self._changed:
            if session_id not in self.sessions:
                return False
        self.set_state(session_id, TERMINATED)
        return True

    def set_state(self, session_id: str, state: str) -> None:
        with self._changed:
            self.sessions[session_id] = state
            self._changed.notify_all()

    def state(self, session_id: str | None) -> str | None:
        with self._changed:
            return self.sessions.get(session_id or "")

    def started_sessions(self) -> list[str]:
        with self._changed:
            return list(self.sessions)

    def stopped_sessions(self) -> list[str]:
        with self._changed:
            return [s for s, state in self.sessions.items() if state == TERMINATED]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Block until `condition()` holds after a change (e.g. the agent's reaper stopped a session)."""
        with self._changed:
            return self._changed.wait_for(condition, timeout)


def session_query(path: str) -> str | None:
    """The `sessionId` of a request's query string."""
    return (parse_qs(urlsplit(path).query).get("sessionId") or [None])[0]


def error(code: str, message: str) -> tuple[int, dict[str, Any]]:
    """A REST-JSON error answer: (status, body with `__type`)."""
    return STATUS.get(code, 400), {"__type": code, "message": message}


def send_answer(handler: JsonHandler, status: int, payload: dict[str, Any]) -> None:
    """Write an answer of `error()` or a success body; an error's `__type` becomes `x-amzn-ErrorType`."""
    code = payload.pop("__type", None) if status >= 400 else None
    handler.send_json(status, payload, {"x-amzn-ErrorType": code} if code else None)
