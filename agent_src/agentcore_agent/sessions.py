"""A bounded LRU of live agents, one per (actor, runtime session), so a conversation keeps its context.

A runtime session is pinned to one microVM, so an in-process cache is the right scope. It is bounded because a
long-lived container would otherwise keep every conversation it ever saw; an evicted session starts afresh
(the memory hooks, when configured, reload its recent turns).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SessionCache(Generic[K, V]):
    """Thread-safe LRU map with a fixed capacity; the least recently used entry is dropped first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_create(self, key: K, create: Callable[[], V]) -> tuple[V, bool]:
        """Return `(value, created)`; `create` runs under the lock so a key is never built twice."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key], False
            value = create()
            self._entries[key] = value
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
            return value, True

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
