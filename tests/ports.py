"""A port that refuses connections for as long as the test process runs, for "the service is down" tests.

Bound and never listening, and held: a port that was only found free (bound, then released) can be taken by
any server another test starts meanwhile, and the test then talks to that server instead of being refused.
"""

from __future__ import annotations

import socket

_held: socket.socket | None = None


def refused_port() -> int:
    """A 127.0.0.1 port where every connection is refused (ECONNREFUSED); one for the whole process."""
    global _held
    if _held is None:
        _held = socket.socket()
        _held.bind(("127.0.0.1", 0))
    return int(_held.getsockname()[1])
