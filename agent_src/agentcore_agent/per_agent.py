"""One tool resource per live agent (a sandbox, a browser session), stopped when the agent is gone.

Tools such as `execute_python` and `browse_web` hold a service-side session per agent, i.e. per (actor,
runtime session) in the app's session cache, or per one-off agent:
- created on the agent's first use of the tool (most conversations never pay for one);
- stopped when the agent is gone (evicted from the session cache, or a one-off agent dropped): a
  `weakref.finalize` on the agent queues its resource and a daemon reaper thread stops queued resources.
  The finalizer does no I/O and takes no lock because it runs in whichever thread drops the last reference
  (usually the server's event loop);
- all stopped by `close()` when the process stops.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)


def agent_label(agent: Any) -> str:
    """The agent's runtime session id (set by `build_agent`), for log lines and session names."""
    try:
        return str(agent.state.get("session_id") or "unknown")
    except Exception:
        return "unknown"


def session_name(label: str) -> str:
    """A service-side session name for the agent session `label` (1-100 characters, no odd characters)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"agent-{label}")[:100]


class Stoppable(Protocol):
    def stop(self) -> None: ...


R = TypeVar("R", bound=Stoppable)


class PerAgent(Generic[R]):
    """`get(agent)` returns that agent's resource (created by `create(agent)` on first use)."""

    def __init__(self, create: Callable[[Any], R], *, name: str, reap_interval: float = 1.0) -> None:
        self._create = create
        self._name = name
        self._reap_interval = reap_interval
        self._lock = threading.Lock()
        self._resources: weakref.WeakKeyDictionary[Any, R] = weakref.WeakKeyDictionary()
        self._live: set[R] = set()
        self._retired: collections.deque[R] = collections.deque()  # appended by finalizers only
        self._closing = threading.Event()
        self._reaper: threading.Thread | None = None

    @property
    def live(self) -> int:
        """Resources not yet stopped for good (started or not)."""
        with self._lock:
            return len(self._live)

    def get(self, agent: Any) -> R:
        with self._lock:
            resource = self._resources.get(agent)
            if resource is None:
                resource = self._create(agent)
                self._resources[agent] = resource
                self._live.add(resource)
                weakref.finalize(agent, self._retired.append, resource)
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap_forever, name=self._name, daemon=True)
                    self._reaper.start()
            return resource

    def close(self) -> None:
        """Stop the reaper and every resource; idempotent; call when the server has stopped."""
        self._closing.set()
        if self._reaper is not None:
            self._reaper.join(timeout=self._reap_interval + 1)
        with self._lock:
            resources = list(self._live)
            self._live.clear()
            self._retired.clear()
        for resource in resources:
            self._stop(resource)

    def _reap_forever(self) -> None:
        """Stop the resources of agents that are gone; runs until `close()`."""
        while not self._closing.wait(self._reap_interval):
            while self._retired:
                resource = self._retired.popleft()
                with self._lock:
                    self._live.discard(resource)
                self._stop(resource)

    def _stop(self, resource: R) -> None:
        try:
            resource.stop()
        except Exception:
            logger.exception("%s: could not stop a retired session", self._name)
