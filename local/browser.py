"""Local AgentCore Browser (emulator of the data plane the agent's `browse_web` tool calls): one headless
Chromium per session.

REST-JSON shapes of botocore's `bedrock-agentcore` model, reached through `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`
(the local data plane routes `/browsers/...` here) and SigV4-signed by the real client:
- `StartBrowserSession`: `PUT /browsers/{id}/sessions/start`, JSON `{name, sessionTimeoutSeconds, viewPort}`
  → `{browserIdentifier, sessionId, createdAt, streams: {automationStream: {streamEndpoint, streamStatus}}}`.
  Each session gets its own Chromium (`local.chromium`, profile under `<profiles>/<session id>`, deleted
  when the session ends), so sessions share no cookies or storage, as the service's isolated sessions do;
  the automation stream is that Chromium's CDP WebSocket on 127.0.0.1 (the service's is a signed `wss://`
  URL; the agent signs its handshake either way, and Chromium ignores the headers).
- `GetBrowserSession`: `GET /browsers/{id}/sessions/get?sessionId=` → the session with its `status`.
- `StopBrowserSession`: `PUT /browsers/{id}/sessions/stop?sessionId=` → `{browserIdentifier, sessionId,
  lastUpdatedAt}`; the session's Chromium stops.
- A session also ends after its `sessionTimeoutSeconds` (default 900, like the service) and when the local
  stage stops (`close()`); `end(session_id)` ends one at once, as the service does under a client.
- Errors: unknown browser or session → 404 ResourceNotFoundException; unsigned → 403 AccessDeniedException;
  bad timeout → 400 ValidationException; Chromium failing to start → 500 InternalServerException.

Which sites may be opened is the agent's allow-list (BROWSER_ALLOWED_DOMAINS, from the dev stage's
configuration as in the cloud); like the service's browser, this one reaches whatever network the machine
has.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from local.chromium import Chromium, ChromiumError
from local.tool_sessions import READY, TERMINATED, Call, SessionLedger, error, session_query

START, GET, STOP = "StartBrowserSession", "GetBrowserSession", "StopBrowserSession"
DEFAULT_TIMEOUT_SECONDS = 900
MAX_TIMEOUT_SECONDS = 28_800
_PATH = re.compile(r"^/browsers/(?P<id>[^/]+)/sessions/(?P<verb>start|get|stop)$")
_OPERATIONS = {("PUT", "start"): START, ("GET", "get"): GET, ("PUT", "stop"): STOP}
Answer = tuple[int, dict[str, Any]]


class _Session:
    """One session; `chromium` is None once it ended."""

    def __init__(self, name: str, timeout: int, viewport: Any, chromium: Chromium) -> None:
        self.name, self.timeout, self.viewport = name, timeout, viewport
        self.chromium: Chromium | None = chromium
        self.created_at = self.updated_at = time.time()
        self.timer: threading.Timer | None = None


class LocalBrowser:
    """The data plane of one browser id; `ledger` holds every call and each session's state."""

    def __init__(self, browser_id: str, *, executable: str, profiles_dir: Path) -> None:
        self.browser_id = browser_id
        self.executable = executable
        self.profiles_dir = profiles_dir
        self.ledger = SessionLedger()
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        shutil.rmtree(profiles_dir, ignore_errors=True)  # profiles a killed stage left behind

    @staticmethod
    def operation(method: str, path: str) -> str | None:
        match = _PATH.match(urlsplit(path).path)
        return _OPERATIONS.get((method, match["verb"])) if match else None

    def respond(self, method: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> Answer | None:
        """The answer to one request, or None when it is no browser operation."""
        operation = self.operation(method, path)
        if operation is None:
            return None
        match = _PATH.match(urlsplit(path).path)
        assert match is not None
        identifier, session_id = unquote(match["id"]), session_query(path)
        call = Call(operation, identifier, session_id, body, headers)
        self.ledger.record(call)
        if not call.signed:
            return error("AccessDeniedException", "request is not SigV4-signed")
        if identifier != self.browser_id:
            return error("ResourceNotFoundException", f"no browser {identifier}")
        if operation == START:
            return self._start(body)
        if operation == GET:
            return self._get(session_id)
        return self._stop(session_id)

    def end(self, session_id: str) -> bool:
        """End a session now (its timeout, or the service ending it under the client); False unless active."""
        with self._lock:
            session = self._sessions.get(session_id)
            chromium = session.chromium if session else None
            if session is None or chromium is None:
                return False
            session.chromium, session.updated_at = None, time.time()
        if session.timer is not None:
            session.timer.cancel()
        chromium.stop()
        self.ledger.close(session_id)
        return True

    def close(self) -> None:
        """End every session (the local stage stops)."""
        with self._lock:
            sessions = list(self._sessions)
        for session_id in sessions:
            self.end(session_id)

    def chromium_of(self, session_id: str) -> Chromium | None:
        """The Chromium of an active session."""
        with self._lock:
            session = self._sessions.get(session_id)
            return session.chromium if session else None

    # -- operations ----------------------------------------------------------------------------------------

    def _start(self, body: dict[str, Any]) -> Answer:
        timeout = body.get("sessionTimeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
        if not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
            return error("ValidationException", f"sessionTimeoutSeconds must be 1..{MAX_TIMEOUT_SECONDS}")
        session_id = self.ledger.open()
        try:
            chromium = Chromium(self.executable, self.profiles_dir / session_id)
        except (ChromiumError, OSError) as failure:
            self.ledger.close(session_id)
            return error("InternalServerException", f"the local browser did not start: {failure}")
        session = _Session(str(body.get("name") or session_id), timeout, body.get("viewPort"), chromium)
        session.timer = threading.Timer(timeout, self.end, args=(session_id,))
        session.timer.daemon = True
        with self._lock:
            self._sessions[session_id] = session
        session.timer.start()
        return 200, {
            "browserIdentifier": self.browser_id,
            "sessionId": session_id,
            "createdAt": session.created_at,
            "streams": _streams(chromium.ws_url),
        }

    def _get(self, session_id: str | None) -> Answer:
        with self._lock:
            session = self._sessions.get(session_id or "")
            chromium = session.chromium if session else None
        if session is None:
            return error("ResourceNotFoundException", f"no session {session_id}")
        answer: dict[str, Any] = {
            "browserIdentifier": self.browser_id,
            "sessionId": session_id,
            "name": session.name,
            "createdAt": session.created_at,
            "lastUpdatedAt": session.updated_at,
            "sessionTimeoutSeconds": session.timeout,
            "status": READY if chromium else TERMINATED,
        }
        if chromium is not None:
            answer["streams"] = _streams(chromium.ws_url)
        if session.viewport:
            answer["viewPort"] = session.viewport
        return 200, answer

    def _stop(self, session_id: str | None) -> Answer:
        if not session_id or not self.end(session_id):
            return error("ResourceNotFoundException", f"no active session {session_id}")
        return 200, {
            "browserIdentifier": self.browser_id,
            "sessionId": session_id,
            "lastUpdatedAt": time.time(),
        }


def _streams(ws_url: str) -> dict[str, Any]:
    return {"automationStream": {"streamEndpoint": ws_url, "streamStatus": "ENABLED"}}
