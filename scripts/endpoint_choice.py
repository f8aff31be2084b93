"""Which runtime endpoint a caller sends a session to: `canary` for `canary_percent` of session ids, else
live.

The choice is a pure function of the session id, so every turn of a session goes to the same endpoint (its
version) without any state, and only new session ids are spread (docs/CANARY.md). Any client can compute it:
the first 8 bytes of SHA-256(session id, UTF-8) as a big-endian integer, modulo 100, below the percentage.
Why not Python's `hash()`: it is salted per process (PYTHONHASHSEED), so a session would change endpoint
between two invocations of a script. Standard library only (scripts/invoke.py runs without the venv's deps).
"""

from __future__ import annotations

import hashlib


def bucket(session_id: str) -> int:
    """The session's bucket, 0..99, the same in every process and language."""
    digest = hashlib.sha256(session_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100


def endpoint_for(session_id: str, canary_percent: int, live: str, canary: str) -> str:
    """`canary` for the sessions whose bucket is below `canary_percent`, else `live`."""
    return canary if bucket(session_id) < canary_percent else live
