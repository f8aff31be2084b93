"""The emulators' HTTP plumbing: responses leave without waiting for the client's delayed ACK."""

from __future__ import annotations

import socket
import urllib.request

from local.http_server import JsonHandler, LocalServer


def test_every_accepted_connection_has_tcp_nodelay():
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            nodelay = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            self.send_json(200, {"nodelay": bool(nodelay)})

    with LocalServer(Handler) as server, urllib.request.urlopen(server.url, timeout=10) as response:
        assert response.read() == b'{"nodelay": true}'
