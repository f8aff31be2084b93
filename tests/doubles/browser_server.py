"""Test doubles for the AgentCore Browser: its data plane on botocore's wire format, and a local Chromium.

`BrowserServer` speaks the REST-JSON shapes of `botocore/data/bedrock-agentcore/2024-02-28/service-2.json`
(reached through `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`, SigV4-signed by the real client):
- `StartBrowserSession`: `PUT /browsers/{id}/sessions/start`, JSON `{name, sessionTimeoutSeconds, viewPort}` →
  `{browserIdentifier, sessionId, createdAt, streams: {automationStream: {streamEndpoint, streamStatus}}}`.
  The automation stream endpoint it returns is the local Chromium's CDP WebSocket, which stands in for the
  service's `wss://.../browser-streams/{id}/sessions/{sid}/automation`.
- `StopBrowserSession`: `PUT /browsers/{id}/sessions/stop?sessionId=...` →
  `{browserIdentifier, sessionId, lastUpdatedAt}`.
- Errors: modelled status, `x-amzn-ErrorType` header, `{"message": ...}` (unknown browser → 404
  ResourceNotFoundException).

`Chromium` runs Debian's `chromium` headless with `--remote-debugging-port=0` (the port is read from the
"DevTools listening on ws://..." line), a fresh profile, and `--host-resolver-rules` mapping every host to
127.0.0.1 so test sites can have real names (allow-list checks need distinct hosts).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local.http_server import JsonHandler, LocalServer, json_or_raw

START, STOP = "StartBrowserSession", "StopBrowserSession"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--host-resolver-rules=MAP * 127.0.0.1",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def chromium_path() -> str | None:
    """Debian's chromium (installed by .ci/run when missing)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """A headless Chromium with remote debugging; `ws_url` is its browser-level CDP WebSocket."""

    def __init__(self, executable: str, startup_timeout: float = 30) -> None:
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self._process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ws_url = self._read_endpoint(startup_timeout)
        self.http_url = "http://" + urlsplit(self.ws_url).netloc

    def _read_endpoint(self, timeout: float) -> str:
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:  # keep draining stderr so Chromium never blocks on a full pipe
            assert self._process.stderr is not None
            for line in self._process.stderr:
                match = _LISTENING.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, name="chromium-stderr", daemon=True).start()
        if not ready.wait(timeout) or not found:
            self.stop()
            raise RuntimeError("chromium did not report its DevTools endpoint")
        return found[0]

    def page_targets(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.http_url}/json/list", timeout=5) as response:
            return [t for t in json.loads(response.read()) if t.get("type") == "page"]

    def close_pages(self) -> None:
        """Close every page, as the service does when it ends a session under the client."""
        for target in self.page_targets():
            urllib.request.urlopen(f"{self.http_url}/json/close/{target['id']}", timeout=5).close()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        shutil.rmtree(self._profile, ignore_errors=True)


@dataclass(frozen=True)
class Recorded:
    operation: str
    browser_id: str
    session_id: str | None
    body: dict[str, Any]
    signed: bool


class BrowserServer:
    """The data plane of one custom browser; every session's automation stream is `automation_endpoint`."""

    def __init__(self, browser_id: str, automation_endpoint: str) -> None:
        self.browser_id = browser_id
        self.automation_endpoint = automation_endpoint
        self.requests: list[Recorded] = []
        self.active: set[str] = set()
        self._lock = threading.Lock()
        self._server = LocalServer(self._handler_class(), name="browser-double")

    @property
    def endpoint_url(self) -> str:
        return self._server.url

    def calls(self, operation: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.operation == operation]

    def start(self) -> BrowserServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def wait_for_stops(self, count: int, timeout: float = 10) -> bool:
        """Block until `count` StopBrowserSession calls arrived (the reaper runs on its own thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.calls(STOP)) >= count:
                return True
            time.sleep(0.02)
        return False

    def _respond(
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        match = re.fullmatch(r"/browsers/([^/]+)/sessions/(start|stop)", parts.path)
        if not match:
            return _error(404, "ResourceNotFoundException", f"no operation at {parts.path}")
        browser_id, verb = unquote(match.group(1)), match.group(2)
        signed = headers.get("authorization", "").startswith("AWS4-HMAC-SHA256")
        now = datetime.now(UTC).isoformat()
        if verb == "start":
            session_id = uuid.uuid4().hex
            self.requests.append(Recorded(START, browser_id, session_id, body, signed))
            if browser_id != self.browser_id:
                return _error(404, "ResourceNotFoundException", "browser not found")
            self.active.add(session_id)
            return 200, {
                "browserIdentifier": browser_id,
                "sessionId": session_id,
                "createdAt": now,
                "streams": {
                    "automationStream": {
                        "streamEndpoint": self.automation_endpoint,
                        "streamStatus": "ENABLED",
                    }
                },
            }
        session_id = (parse_qs(parts.query).get("sessionId") or [""])[0]
        self.requests.append(Recorded(STOP, browser_id, session_id, body, signed))
        if session_id not in self.active:
            return _error(404, "ResourceNotFoundException", "session not found")
        self.active.discard(session_id)
        return 200, {"browserIdentifier": browser_id, "sessionId": session_id, "lastUpdatedAt": now}

    def _handler_class(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def do_PUT(self) -> None:
                body = json_or_raw(self.read_body())
                with double._lock:
                    status, payload = double._respond(self.path, self.lowered_headers(), body)
                error_type = {"x-amzn-ErrorType": payload["__type"]} if status != 200 else {}
                self.send_json(status, payload, error_type)

        return Handler


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"__type": code, "message": message}
