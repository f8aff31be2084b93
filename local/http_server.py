"""Plumbing shared by the local HTTP emulators: a quiet JSON-speaking handler and a server on a free port.

`JsonHandler` is a `BaseHTTPRequestHandler` (with TCP_NODELAY, see below) with helpers to read the request
body and to write a complete response (status, headers in the order given, then `Content-Length`, then the
body); it does not log requests.
`LocalServer` runs a `ThreadingHTTPServer` on 127.0.0.1 (a free port, daemon request threads) from a daemon
thread, and is a context manager. Each double keeps its own protocol version, routes and wire shapes.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """Request handler base: body reading, complete JSON/byte responses, no per-request logging."""

    # TCP_NODELAY: a response is written as headers, then body; with Nagle's algorithm the body waits for the
    # client's ACK of the headers, which Linux delays by 40 ms on a kept-alive connection: 40 ms per call.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging (keeps test output clean)."""

    def read_body(self) -> bytes:
        """The request body, as long as its Content-Length says (b"" without one)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def lowered_headers(self) -> dict[str, str]:
        """The request headers with lower-cased names."""
        return {name.lower(): value for name, value in self.headers.items()}

    def send_bytes(self, status: int, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        """A whole response: the status line, `headers` in order, Content-Length, then `data`."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        """`body` as JSON with Content-Type application/json, followed by any extra `headers`."""
        self.send_bytes(
            status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
        )


def bound_socket() -> socket.socket:
    """A socket bound to a free 127.0.0.1 port: its URL is known before a server starts serving it.

    Made with proto IPPROTO_TCP: only then does asyncio (uvicorn) set TCP_NODELAY on the connections it
    accepts; with proto 0 a response written in two pieces waited ~40 ms for the client's delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def json_or_raw(raw: bytes) -> dict[str, Any]:
    """A request body parsed as JSON ({} when empty); unparseable bodies are kept as `{"_raw": text}`."""
    try:
        return json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {"_raw": raw.decode(errors="replace")}


class LocalServer:
    """`handler_class` on 127.0.0.1 (free port, bound at once), served from a daemon thread after start()."""

    def __init__(
        self,
        handler_class: type[BaseHTTPRequestHandler],
        *,
        name: str | None = None,
        port: int = 0,  # 0: a free port the system chooses
        poll_interval: float = 0.05,  # how long shutdown() may wait; short keeps teardown fast
    ) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler_class)  # daemon request threads
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(poll_interval,), name=name, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The server root, http://127.0.0.1:<port>."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
