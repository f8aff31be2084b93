"""scripts/endpoint_choice.py: the caller's canary split is a pure, even function of the session id."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from scripts.endpoint_choice import bucket, endpoint_for
from tests.conftest import ROOT


def test_the_bucket_is_the_documented_sha256_rule():
    session = "prod-4b6f0c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b"
    expected = int.from_bytes(hashlib.sha256(session.encode()).digest()[:8], "big") % 100
    assert bucket(session) == expected


def test_the_same_session_gets_the_same_endpoint_in_another_process():
    """Python's own hash() is salted per process; the split must not be."""
    session = "prod-4b6f0c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b"
    code = f"from scripts.endpoint_choice import bucket; print(bucket({session!r}))"
    other = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345"},
    )  # fmt: skip
    assert int(other.stdout) == bucket(session)


def test_the_share_of_sessions_on_the_canary_is_the_percentage():
    sessions = [f"stage-{n:08d}-0123456789abcdef0123456789" for n in range(20_000)]
    on_canary = sum(endpoint_for(s, 10, "live", "canary") == "canary" for s in sessions)
    assert 1_800 <= on_canary <= 2_200  # 10 % of 20,000, within 1 point
    assert all(endpoint_for(s, 0, "live", "canary") == "live" for s in sessions[:1000])  # off: none
