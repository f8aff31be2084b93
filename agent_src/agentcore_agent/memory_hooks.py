"""AgentCore Memory for the Strands agent: recent turns in, long-term records as context, every message out.

`MemoryHooks` is a Strands `Plugin` bound to ONE (actor, session):

* agent initialised: loads the last K turns of (actor, session) from short-term memory (ListEvents) into
  `agent.messages`, so a restarted process (or an evicted cached agent) continues the conversation.
* before each invocation: searches each configured long-term namespace of THIS actor (RetrieveMemoryRecords,
  the new prompt as query, top-k) and keeps the hits for this invocation only. A model-call middleware
  appends them to the system prompt as one delimited block (system_prompt.py), so they are never stored as
  a user turn (not in `agent.messages`, not in short-term memory) and do not accumulate.
* message added: writes the message's text as a conversational event (CreateEvent, awaited) with role USER
  or ASSISTANT (memory_records.py says why tool blocks are skipped).

Isolation: the actor id is supplied by the caller (the verified JWT `sub`, never a payload field). Every read
and write is keyed by it (events also by session id), every namespace template must contain `{actorId}`, and
records whose `namespaces` do not match the namespace asked for are dropped.

Memory is optional: every call runs under a wall-clock deadline (`timeout_seconds`, independent of the
client's own botocore timeouts) and any failure is logged as a WARNING naming the operation and the session
id, then ignored. After a connectivity failure or timeout the hooks skip memory for `COOL_DOWN_SECONDS`
(resilience.py), so a dead endpoint costs one timeout, not one per message.

Why not the SDK's `AgentCoreMemorySessionManager` (bedrock_agentcore.memory.integrations.strands), read in
bedrock-agentcore 1.25:
* it stores every message as a JSON-serialised `SessionMessage` inside the conversational text, tool use and
  tool results included, so long-term extraction reads JSON wrappers and tool payloads (large, possibly
  sensitive) are kept; on top it writes an agent-state event after every message;
* it puts retrieved long-term records into the user's own message (`<user_context>` prepended to the last
  user turn): they become part of the conversation, are re-sent every turn and pile up in the window,
  mixed into what the user said instead of a separate block marked as data;
* it fills namespaces with `str.format` and searches by prefix (`namespace_path`), with no check that a
  template contains `{actorId}` or that a record belongs to the namespace asked for;
* failures are not optional: a failed write raises `SessionException` (the turn fails), retrievals are
  logged at ERROR and have no deadline, and restoring a session blocks the calling thread;
* it builds a `MemoryClient` (plus a control-plane client we do not need) per manager, i.e. per session.
We need three data-plane operations with strict timeouts; `make_memory_client` builds that one client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError
from strands.hooks import (
    AfterInvocationEvent,
    AgentInitializedEvent,
    BeforeInvocationEvent,
    MessageAddedEvent,
)
from strands.middleware import InvokeModelStage
from strands.middleware.stages import InvokeModelContext
from strands.plugins import Plugin, hook

from . import telemetry
from .memory_records import (
    CONTEXT_TAG,
    MAX_QUERY_TEXT,
    context_block,
    event_payload,
    events_to_messages,
    message_text,
    record_texts,
    resolve_namespaces,
)
from .messages import last_user_text
from .resilience import CoolDown, call_with_deadline
from .system_prompt import with_block

logger = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["CONTEXT_TAG", "MemoryHooks", "make_memory_client", "memory_hooks_factory", "resolve_namespaces"]

_ACTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_LIST_PAGE_SIZE = 100  # ListEvents maxResults upper bound; the service returns newest first
COOL_DOWN_SECONDS = 30.0
DEFAULT_TIMEOUT_SECONDS = 2.0

# Memory calls run here so the caller can stop waiting at the deadline even when a client has no timeouts.
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="agentcore-memory")


def make_memory_client(
    *,
    region: str | None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    session: boto3.session.Session | None = None,
) -> BaseClient:
    """A `bedrock-agentcore` data-plane client with short timeouts and at most one retry.

    The endpoint follows boto3's usual resolution: `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE` redirects it (tests).
    Pass `session` to reuse loaded service models (building a session per client costs ~100 ms).
    """
    config = Config(
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        retries={"total_max_attempts": 2, "mode": "standard"},
        user_agent_extra="agentcore-cdk-memory-hooks",
    )
    return (session or boto3.session.Session()).client("bedrock-agentcore", region_name=region, config=config)


class MemoryUnavailableError(Exception):
    """Raised internally when a call is skipped during the cool-down after a connectivity failure."""


class MemoryHooks(Plugin):
    """Short- and long-term AgentCore Memory for one (actor, session); see the module docstring."""

    name = "agentcore:memory"

    def __init__(
        self,
        *,
        client: BaseClient,
        memory_id: str,
        actor_id: str,
        session_id: str,
        namespaces: Mapping[str, str],
        last_k_turns: int = 5,
        top_k: int = 3,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        strategy_ids: Mapping[str, str] | None = None,
    ) -> None:
        """Validate identities up front: a malformed actor id must not reach a namespace or an API key."""
        if not _ACTOR_ID.fullmatch(actor_id or ""):
            raise ValueError(
                "actor_id must be 1-255 characters of [A-Za-z0-9_-] starting with a letter or digit"
            )
        if not _SESSION_ID.fullmatch(session_id or ""):
            raise ValueError(
                "session_id must be 1-100 characters of [A-Za-z0-9_-] starting with a letter or digit"
            )
        if len(memory_id) < 12:
            raise ValueError("memory_id must be at least 12 characters (the service's minimum)")
        if last_k_turns < 0 or top_k < 1 or timeout_seconds <= 0:
            raise ValueError("last_k_turns must be >= 0, top_k >= 1 and timeout_seconds > 0")
        super().__init__()
        self.client = client
        self.memory_id = memory_id
        self.actor_id = actor_id
        self.session_id = session_id
        self.namespaces = resolve_namespaces(
            namespaces, actor_id=actor_id, session_id=session_id, strategy_ids=strategy_ids
        )
        self.last_k_turns = last_k_turns
        self.top_k = min(top_k, 100)
        self.timeout_seconds = timeout_seconds
        self.cool_down = CoolDown(COOL_DOWN_SECONDS)
        self._context: str | None = None  # retrieved records for the running invocation only
        self._last_timestamp = datetime.fromtimestamp(0, UTC)
        self._lock = threading.Lock()

    def init_agent(self, agent: Any) -> None:
        """The middleware adds this invocation's records to every model call's system prompt."""
        agent.add_middleware(InvokeModelStage.Input, self._add_context_to_model_call)

    # -- short-term: load ---------------------------------------------------------------------------------

    @hook
    def on_agent_initialized(self, event: AgentInitializedEvent) -> None:
        """Restore the last K turns (sync: Strands requires it here)."""
        if self.last_k_turns == 0:
            return
        if event.agent.messages:
            logger.debug("session %s: agent already has messages; not loading memory", self.session_id)
            return
        try:
            events = self._call_sync("list_events", self._list_events)
        except Exception as error:
            self._warn("list_events", error)
            return
        messages, newest = events_to_messages(events, actor_id=self.actor_id, last_k_turns=self.last_k_turns)
        self._last_timestamp = max(self._last_timestamp, newest)
        event.agent.messages.extend(messages)
        logger.info("session %s: restored %d message(s) from memory", self.session_id, len(messages))

    def _list_events(self) -> list[dict[str, Any]]:
        """One page of the newest events of this (actor, session); the newest 100 cover any sane K."""
        response = self.client.list_events(
            memoryId=self.memory_id,
            actorId=self.actor_id,
            sessionId=self.session_id,
            includePayloads=True,
            maxResults=_LIST_PAGE_SIZE,
        )
        return list(response.get("events", []))

    # -- long-term: retrieve and inject -------------------------------------------------------------------

    @hook
    async def on_before_invocation(self, event: BeforeInvocationEvent) -> None:
        """Search each namespace of this actor with the new prompt; on failure the turn has no context."""
        self._context = None
        query = last_user_text(event.messages or [])[:MAX_QUERY_TEXT]
        if not query.strip() or not self.namespaces:
            return
        keys = list(self.namespaces)
        results = await asyncio.gather(
            *(
                self._call(
                    "retrieve_memory_records",
                    self._retrieve_fn(self.namespaces[key], query),
                    namespace_key=key,
                    cool_down_on_timeout=False,  # slow search does not mean slow events
                )
                for key in keys
            ),
            return_exceptions=True,
        )
        sections: list[tuple[str, list[str]]] = []
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, BaseException):
                self._warn(f"retrieve_memory_records[{key}]", result)
                continue
            texts = record_texts(result, self.namespaces[key], self.top_k)
            if texts:
                sections.append((key, texts))
        self._context = context_block(sections) if sections else None

    def _retrieve_fn(self, namespace: str, query: str) -> Callable[[], dict[str, Any]]:
        """Bind one RetrieveMemoryRecords call (exact namespace, top-k) for the executor."""

        def call() -> dict[str, Any]:
            response: dict[str, Any] = self.client.retrieve_memory_records(
                memoryId=self.memory_id,
                namespace=namespace,
                searchCriteria={"searchQuery": query, "topK": self.top_k},
                maxResults=self.top_k,
            )
            return response

        return call

    def _add_context_to_model_call(self, context: InvokeModelContext) -> InvokeModelContext:
        """Append this invocation's records to the system prompt of each model call (never to the history)."""
        return with_block(context, self._context) if self._context else context

    @hook
    def on_after_invocation(self, event: AfterInvocationEvent) -> None:
        """Forget this invocation's records so they never carry over into the next one."""
        self._context = None

    # -- short-term: save ---------------------------------------------------------------------------------

    @hook
    async def on_message_added(self, event: MessageAddedEvent) -> None:
        """Write a user/assistant message as one conversational event before the agent goes on."""
        stored = message_text(event.message)
        if stored is None:
            return
        role, text = stored
        timestamp = self._next_timestamp()
        try:
            await self._call("create_event", lambda: self._create_event(role, text, timestamp))
        except Exception as error:
            self._warn("create_event", error)

    def _create_event(self, role: str, text: str, timestamp: datetime) -> None:
        """One CreateEvent carrying one conversational payload for this (actor, session)."""
        self.client.create_event(
            memoryId=self.memory_id,
            actorId=self.actor_id,
            sessionId=self.session_id,
            eventTimestamp=timestamp,
            payload=event_payload(role, text),
        )

    def _next_timestamp(self) -> datetime:
        """Strictly increasing by >= 1 ms (the service's precision) so reloads keep the order of writes."""
        with self._lock:
            now = datetime.now(UTC)
            floor = self._last_timestamp + timedelta(milliseconds=1)
            self._last_timestamp = max(now, floor)
            return self._last_timestamp

    # -- failure handling ---------------------------------------------------------------------------------

    def _traced(self, operation: str, call: Callable[[], T], namespace_key: str | None) -> Callable[[], T]:
        """`call` unless cooling down, in a span naming operation, memory and session (never query or texts).

        A connectivity failure starts the cool-down so later calls skip fast.
        """
        attributes = {"agentcore.memory.id": self.memory_id, "agentcore.memory.operation": operation}
        if namespace_key is not None:
            attributes["agentcore.memory.namespace_key"] = namespace_key

        def guarded() -> T:
            if self.cool_down.active:
                raise MemoryUnavailableError("skipped: memory endpoint failed recently")
            try:
                return call()
            except (BotocoreConnectionError, HTTPClientError):
                self.cool_down.trip()
                raise

        return telemetry.traced(f"agentcore.memory.{operation}", self.session_id, guarded, attributes)

    def _call_sync(self, operation: str, call: Callable[[], T]) -> T:
        """Like `_call` for the one place Strands requires synchronous code (agent initialisation)."""
        future = telemetry.submit_in_context(_EXECUTOR, self._traced(operation, call, None))
        try:
            return future.result(timeout=self.timeout_seconds)
        except concurrent.futures.TimeoutError:
            self.cool_down.trip()
            raise TimeoutError(f"{operation}: no answer within {self.timeout_seconds:g}s") from None

    async def _call(
        self,
        operation: str,
        call: Callable[[], T],
        *,
        namespace_key: str | None = None,
        cool_down_on_timeout: bool = True,
    ) -> T:
        """Run a call on the executor (in this context, traced) and stop waiting at the deadline."""
        try:
            return await call_with_deadline(
                _EXECUTOR, self._traced(operation, call, namespace_key), self.timeout_seconds
            )
        except TimeoutError as error:
            if cool_down_on_timeout:
                self.cool_down.trip()
            raise TimeoutError(f"{operation}: {error}") from None

    def _warn(self, operation: str, error: BaseException) -> None:
        """The one place failures are reported: WARNING, operation, session id, error type and message."""
        logger.warning(
            "memory %s failed in session %s (continuing without it): %s: %s",
            operation,
            self.session_id,
            type(error).__name__,
            error,
        )


def memory_hooks_factory(
    settings: Any, session_id: str, actor_id: str, *, client: BaseClient | None = None
) -> list[MemoryHooks]:
    """`[MemoryHooks]` when `settings.memory_id` is set, else `[]`.

    Reads `settings.memory_id`, `.memory_namespaces`, `.memory_last_k_turns`, `.memory_top_k` and `.region`.
    A bad id or namespace disables memory for this request with a WARNING instead of failing the answer.
    """
    if not settings.memory_id:
        return []
    try:
        hooks = MemoryHooks(
            client=client or _shared_client(settings.region),
            memory_id=settings.memory_id,
            actor_id=actor_id,
            session_id=session_id,
            namespaces=settings.memory_namespaces or {},
            last_k_turns=int(settings.memory_last_k_turns),
            top_k=int(settings.memory_top_k),
        )
    except ValueError as error:
        logger.warning("memory disabled in session %s: %s", session_id, error)
        return []
    return [hooks]


_CLIENTS: dict[str | None, BaseClient] = {}
_CLIENTS_LOCK = threading.Lock()


def _shared_client(region: str | None) -> BaseClient:
    """One client per region for the process: building a boto3 client per request costs ~50 ms."""
    with _CLIENTS_LOCK:
        if region not in _CLIENTS:
            _CLIENTS[region] = make_memory_client(region=region)
        return _CLIENTS[region]
