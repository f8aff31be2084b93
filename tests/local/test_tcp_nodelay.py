"""Servers on `bound_socket()` answer without Nagle's delay: asyncio sets TCP_NODELAY on the connections it
accepts only when the listening socket was made with proto IPPROTO_TCP (not 0), and a response written in
two pieces (an SSE stream's event, then its end) otherwise waited ~40 ms for the client's delayed ACK."""

from __future__ import annotations

import asyncio
import socket

from local.http_server import bound_socket


def test_a_connection_accepted_on_a_bound_socket_by_asyncio_has_tcp_nodelay():
    async def accept_one() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listening = bound_socket()
        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname())
            try:
                return await asyncio.wait_for(accepted, 5)
            finally:
                writer.close()

    assert asyncio.run(accept_one()) != 0
