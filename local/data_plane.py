"""Local `bedrock-agentcore` data-plane endpoint: Memory and Browser answered here, Identity forwarded.

The agent's Memory client, its browser tool and the Identity SDK all use the `bedrock-agentcore` service, and
one boto3 service has one endpoint (`AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`), so the local stage serves them
behind one URL: `/memories/...` from the SQLite `MemoryStore`, `/browsers/...` from the `LocalBrowser`,
`/identities/...` forwarded verbatim to the `IdentityServer` (workload tokens, the gateway's OAuth2 token, API
keys). Each part is optional; everything else (Code Interpreter: never run locally) and every part that is
not there answers 404 `ResourceNotFoundException` naming the path.

For tests, every request is recorded (`requests`: operation, method, path, JSON body), and the operations in
`affects` can be made slow (`delay_seconds`: the answer waits, or is dropped when the server stops) or
failing (`error_status`: a `ServiceException` with that status).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

import urllib3

from local.browser import LocalBrowser
from local.http_server import JsonHandler, LocalServer, json_or_raw
from local.memory_store import MemoryStore
from local.tool_sessions import send_answer

MEMORY_OPERATIONS = frozenset({"CreateEvent", "ListEvents", "RetrieveMemoryRecords"})
_HOP_BY_HOP = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}


@dataclass(frozen=True)
class Seen:
    """One request the data plane received; `operation` is its API name (or `Identity`, or None)."""

    operation: str | None
    method: str
    path: str
    body: dict[str, Any]


class DataPlane:
    """Serves the data plane on 127.0.0.1 (free port)."""

    def __init__(
        self,
        *,
        memory: MemoryStore | None = None,
        identity_url: str | None = None,
        browser: LocalBrowser | None = None,
    ) -> None:
        self.memory = memory
        self.identity_url = identity_url.rstrip("/") if identity_url else None
        self.browser = browser
        self.requests: list[Seen] = []
        self.delay_seconds = 0.0
        self.error_status: int | None = None
        self.affects: frozenset[str] = MEMORY_OPERATIONS
        self.held = 0  # requests waiting out `delay_seconds` right now
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._pool = urllib3.PoolManager(maxsize=8)
        self._server = LocalServer(self._handler_class(), name="local-data-plane")

    @property
    def endpoint_url(self) -> str:
        """The value for AWS_ENDPOINT_URL_BEDROCK_AGENTCORE."""
        return self._server.url

    def calls(self, operation: str) -> list[Seen]:
        """The recorded requests of one operation, in order."""
        with self._lock:
            return [seen for seen in self.requests if seen.operation == operation]

    def start(self) -> DataPlane:
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes the requests held by `delay_seconds`
        self._server.stop()

    def __enter__(self) -> DataPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _operation(self, method: str, path: str) -> str | None:
        if path.startswith("/identities/"):
            return "Identity"
        if self.browser is not None and (name := self.browser.operation(method, path)):
            return name
        return MemoryStore.operation(method, path)

    def _held(self, operation: str | None) -> bool:
        """Wait out the injected delay; True when the server stopped meanwhile (drop the request)."""
        if operation not in self.affects or not self.delay_seconds:
            return False
        with self._lock:
            self.held += 1
        try:
            return self._stopping.wait(self.delay_seconds)
        finally:
            with self._lock:
                self.held -= 1

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        if self.memory is not None and (answer := self.memory.respond(method, path.split("?", 1)[0], body)):
            return answer
        if self.browser is not None and (answer := self.browser.respond(method, path, headers, body)):
            return answer
        message = f"{method} {path.split('?', 1)[0]} is not available in the local stage"
        return 404, {"__type": "ResourceNotFoundException", "message": message}

    def _handler_class(self) -> type[JsonHandler]:
        plane = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    raw = self.read_body()
                    body = json_or_raw(raw)
                    operation = plane._operation(self.command, self.path.split("?", 1)[0])
                    with plane._lock:
                        plane.requests.append(Seen(operation, self.command, self.path, body))
                    if plane._held(operation):
                        self.close_connection = True  # stopping: answer nothing
                        return
                    if operation in plane.affects and plane.error_status is not None:
                        failure = {"__type": "ServiceException", "message": "simulated failure"}
                        return send_answer(self, plane.error_status, failure)
                    if operation == "Identity" and plane.identity_url is not None:
                        return self._forward(raw)
                    send_answer(self, *plane._answer(self.command, self.path, self.lowered_headers(), body))

            def _forward(self, raw: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = plane._pool.request(
                    self.command, plane.identity_url + self.path, body=raw, headers=headers, timeout=10
                )
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
                self.send_bytes(upstream.status, upstream.data, kept)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler
