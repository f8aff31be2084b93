"""The session cache is a bounded LRU that builds each entry exactly once."""

from __future__ import annotations

import threading

import pytest
from agentcore_agent.sessions import SessionCache


def test_lru_evicts_least_recently_used():
    cache: SessionCache[str, int] = SessionCache(2)
    cache.get_or_create("a", lambda: 1)
    cache.get_or_create("b", lambda: 2)
    assert cache.get_or_create("a", lambda: 99) == (1, False)  # touch a
    cache.get_or_create("c", lambda: 3)  # evicts b
    assert "b" not in cache and "a" in cache and "c" in cache
    assert len(cache) == 2


def test_concurrent_callers_build_an_entry_once():
    cache: SessionCache[str, object] = SessionCache(4)
    built: list[object] = []

    def create() -> object:
        built.append(object())
        return built[-1]

    threads = [threading.Thread(target=cache.get_or_create, args=("k", create)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        SessionCache(0)
