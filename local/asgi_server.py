"""An ASGI app served by uvicorn from a daemon thread, on a socket bound by the caller, that stops when told.

uvicorn's `Server` looks at `should_exit` once per 0.1 s tick, so each stop used to wait for the next tick;
the local gateway and the test doubles start and stop hundreds of servers per test run. Here the tick
still runs (uvicorn's date header and request limits), but a stop wakes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

TICK_SECONDS = 0.1  # uvicorn's own tick


class _StoppableServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_SECONDS)

    def stop(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: it has stopped anyway
                loop.call_soon_threadsafe(wake.set)


@contextlib.contextmanager
def serving(
    app: Any, sock: socket.socket, *, name: str, lifespan: str = "off", start_timeout: float = 60
) -> Iterator[None]:
    """Serve `app` on `sock` until the block ends; RuntimeError if it does not start within the timeout."""
    server = _StoppableServer(uvicorn.Config(app, log_level="warning", lifespan=lifespan, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.stop()
        thread.join(timeout=10)
        sock.close()
