"""Deadlines and cool-downs for the optional dependencies of a turn (memory, gateway): one implementation.

A turn must answer even when a dependency is slow or down. So a blocking call runs on a worker thread in a
copy of the caller's context (it keeps the turn's span and the SDK's request context, e.g. the workload
access token), the caller stops waiting at a wall-clock deadline independent of any client timeout (the
thread may finish later; its result is dropped), and after a connectivity failure or a timeout the
dependency is skipped for a cool-down, so a dead endpoint costs one timeout, not one per call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from typing import TypeVar

from . import telemetry

T = TypeVar("T")


class CoolDown:
    """Remembers that a dependency failed and answers 'skip it' until `seconds` have passed. Thread-safe."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._until = 0.0

    @property
    def active(self) -> bool:
        """Whether calls should be skipped right now."""
        return self._clock() < self._until

    def trip(self) -> None:
        """Start (or restart) the cool-down: the dependency just failed or timed out."""
        self._until = self._clock() + self.seconds


async def call_with_deadline(
    executor: concurrent.futures.Executor, call: Callable[[], T], seconds: float
) -> T:
    """Run blocking `call` on `executor` in the caller's context; `TimeoutError` after `seconds`.

    Never blocks the event loop (the runtime answers /ping on it). The timeout message names the deadline.
    """
    future = telemetry.run_in_executor(executor, call)
    try:
        return await asyncio.wait_for(future, seconds)
    except TimeoutError:
        raise TimeoutError(f"no answer within {seconds:g} s") from None
