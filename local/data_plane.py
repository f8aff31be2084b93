"""Local `bedrock-agentcore` data-plane endpoint: Memory answered here, Identity forwarded to its emulator.

The agent's Memory client and the Identity SDK both use the `bedrock-agentcore` service, and one boto3
service has one endpoint (`AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`), so the local stage serves them behind one
URL: `/memories/...` from the SQLite `MemoryStore`, `/identities/...` forwarded verbatim to the
`IdentityServer` (workload tokens, the gateway's OAuth2 token, API keys). Everything else (Code Interpreter,
Browser) is off locally and answers 404 `ResourceNotFoundException` naming the path.
"""

from __future__ import annotations

import contextlib

import urllib3

from local.http_server import JsonHandler, LocalServer, json_or_raw
from local.memory_store import MemoryStore

_HOP_BY_HOP = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}


class DataPlane:
    """Serves the data plane on 127.0.0.1 (free port)."""

    def __init__(self, *, memory: MemoryStore, identity_url: str) -> None:
        self.memory = memory
        self.identity_url = identity_url.rstrip("/")
        self._pool = urllib3.PoolManager(maxsize=8)
        self._server = LocalServer(self._handler_class(), name="local-data-plane")

    @property
    def endpoint_url(self) -> str:
        """The value for AWS_ENDPOINT_URL_BEDROCK_AGENTCORE."""
        return self._server.url

    def start(self) -> DataPlane:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _handler_class(self) -> type[JsonHandler]:
        plane = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    raw = self.read_body()
                    path = self.path.split("?", 1)[0]
                    if path.startswith("/identities/"):
                        return self._forward(raw)
                    answer = plane.memory.respond(self.command, path, json_or_raw(raw))
                    if answer is None:
                        answer = (
                            404,
                            {
                                "__type": "ResourceNotFoundException",
                                "message": f"{self.command} {path} is not available in the local stage",
                            },
                        )
                    status, body = answer
                    code = body.pop("__type", None) if status >= 400 else None
                    self.send_json(status, body, {"x-amzn-ErrorType": code} if code else None)

            def _forward(self, raw: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = plane._pool.request(
                    self.command, plane.identity_url + self.path, body=raw, headers=headers, timeout=10
                )
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
                self.send_bytes(upstream.status, upstream.data, kept)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler
