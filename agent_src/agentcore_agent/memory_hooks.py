"""AgentCore Memory for the Strands agent: recent turns in, long-term records as context, every message out.

`MemoryHooks` is a Strands `Plugin` bound to ONE (actor, session):

* history: the last K turns of (actor, session) in short-term memory (ListEvents) go before the
  conversation of a new agent, so a restarted process (or an evicted cached agent) continues it. The load
  starts in the background when the agent is built, off the request's path.
* records: before each invocation, a search starts in each configured long-term namespace of THIS actor
  (RetrieveMemoryRecords, the new prompt as query, top-k). The hits are for this invocation only: a
  model-call middleware appends them to the system prompt as one delimited block (system_prompt.py), so
  they are never stored as a user turn (not in `agent.messages`, not in short-term memory) and do not
  accumulate.
* a namespace of this session (its template has `{sessionId}`, e.g. the session's summary) is searched only
  when the agent may lack part of the session: it was resumed (its history load found earlier events) or
  its conversation window has dropped messages. Otherwise every message of the session is already in the
  model's context, so such a record holds nothing new: a new conversation's turns make one call less
  per turn (RetrieveMemoryRecords is billed per call). On a first turn the decision waits for the history
  load, which runs beside the tool search.
* The turn's first model call waits for both (and, in the gateway plugin, for the tool search), so the
  wait before the model is the slowest of these fetches, not their sum.
* writes: each message's text becomes a conversational event (CreateEvent) with role USER or ASSISTANT
  (memory_records.py says why tool blocks are skipped). Writes are queued in order and run in the
  background; the end of the turn waits for them, the model call does not.

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
import copy
import logging
import os
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError
from strands.hooks import (
    AfterInvocationEvent,
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
        self.session_scoped = frozenset(
            key for key, template in namespaces.items() if "{sessionId}" in template
        )
        self.last_k_turns = last_k_turns
        self.top_k = min(top_k, 100)
        self.timeout_seconds = timeout_seconds
        self.cool_down = CoolDown(COOL_DOWN_SECONDS)
        self._context: str | None = None  # retrieved records for the running invocation only
        self._history_load: concurrent.futures.Future[list[dict[str, Any]]] | None = None
        self._restored: list[dict[str, Any]] | None = None  # the loaded history, kept for a rolled-back turn
        self._began_here = False  # the history load found no earlier event: the session began in this agent
        self._prefetch: asyncio.Future[tuple[list[dict[str, Any]], str | None]] | None = None
        self._writes: asyncio.Future[None] | None = None  # the newest queued event write
        self._last_timestamp = datetime.fromtimestamp(0, UTC)
        self._lock = threading.Lock()

    def init_agent(self, agent: Any) -> None:
        """Install the model-call middleware, and start loading the history right away (in the background).

        The agent is built inside the request; the history load runs while the request goes on to the turn,
        which waits for it only at its first model call, together with the records and the gateway search.
        """
        agent.add_middleware(InvokeModelStage.Input, self._prepare_model_call)
        if self.last_k_turns and not agent.messages:
            self._history_load = telemetry.submit_in_context(
                _EXECUTOR, self._traced("list_events", self._list_events, None)
            )

    # -- per turn: fetch context concurrently, hand it to the first model call ----------------------------

    @hook
    async def on_before_invocation(self, event: BeforeInvocationEvent) -> None:
        """Start fetching this turn's context (history if the agent has none, records for the prompt).

        Not awaited here: the first model call waits for it (`_prepare_model_call`).
        """
        self._forget_turn()
        restore = self.last_k_turns > 0 and not event.agent.messages
        query = last_user_text(event.messages or [])[:MAX_QUERY_TEXT]
        self._prefetch = asyncio.ensure_future(self._turn_context(restore, query, event.agent))

    async def _turn_context(
        self, restore: bool, query: str, agent: Any
    ) -> tuple[list[dict[str, Any]], str | None]:
        """(history to put before the turn, the records block); never raises (failures are warnings)."""
        loading = asyncio.ensure_future(self._history(restore))

        async def whole_session_in_context() -> bool:
            await asyncio.wait([loading])  # its failure is reported below
            dropped = getattr(agent.conversation_manager, "removed_message_count", None)
            return self._began_here and dropped == 0

        history, records = await asyncio.gather(
            loading, self._records(query, whole_session_in_context), return_exceptions=True
        )
        if isinstance(history, BaseException):
            self._warn("list_events", history)
            history = []
        if isinstance(records, BaseException):
            self._warn("retrieve_memory_records", records)
            records = None
        return history, records

    async def _prepare_model_call(self, context: InvokeModelContext) -> InvokeModelContext:
        """Every model call: add this turn's records to the system prompt. The first call of a turn waits
        for the fetch, and puts a restored history before the conversation (agent and this call)."""
        if self._prefetch is not None:
            prefetch, self._prefetch = self._prefetch, None
            history, self._context = await prefetch
            if history:
                context.agent.messages[:0] = copy.deepcopy(history)
                context = context.replace(messages=[*history, *context.messages])
        return with_block(context, self._context) if self._context else context

    @hook
    async def on_after_invocation(self, event: AfterInvocationEvent) -> None:
        """Forget this turn's records; wait for its event writes so nothing is lost or reordered."""
        self._forget_turn()
        writes, self._writes = self._writes, None
        if writes is not None and writes.get_loop() is asyncio.get_running_loop():
            await writes

    def _forget_turn(self) -> None:
        """Records never carry over into the next turn; an unfinished fetch of a failed turn is dropped."""
        if self._prefetch is not None:
            self._prefetch.cancel()
            self._prefetch = None
        self._context = None

    # -- short-term: load ---------------------------------------------------------------------------------

    async def _history(self, restore: bool) -> list[dict[str, Any]]:
        """The last K turns of (actor, session); fetched once (the load started with the agent), then kept
        so a first turn that failed and was rolled back by the app gets the same history again."""
        if not restore:
            return []
        if self._restored is None:
            self._restored = []  # one attempt per agent, as a failed load must not slow every turn
            load = self._history_load or telemetry.submit_in_context(
                _EXECUTOR, self._traced("list_events", self._list_events, None)
            )
            try:
                events = await asyncio.wait_for(asyncio.wrap_future(load), self.timeout_seconds)
            except TimeoutError:
                self.cool_down.trip()
                raise TimeoutError(f"list_events: no answer within {self.timeout_seconds:g} s") from None
            messages, newest = events_to_messages(
                events, actor_id=self.actor_id, last_k_turns=self.last_k_turns
            )
            with self._lock:
                self._last_timestamp = max(self._last_timestamp, newest)
            self._restored = messages
            self._began_here = not events
            logger.info("session %s: restored %d message(s) from memory", self.session_id, len(messages))
        return copy.deepcopy(self._restored)

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

    # -- long-term: retrieve ------------------------------------------------------------------------------

    async def _records(
        self, query: str, whole_session_in_context: Callable[[], Awaitable[bool]]
    ) -> str | None:
        """Search each namespace of this actor with the prompt (those of this session only when the agent
        may lack part of it, see the module docstring): the records block, or None."""
        if not query.strip() or not self.namespaces:
            return None
        keys = list(self.namespaces)

        async def search(key: str) -> dict[str, Any]:
            if key in self.session_scoped and await whole_session_in_context():
                return {}  # nothing the model does not already see
            return await self._call(
                "retrieve_memory_records",
                self._retrieve_fn(self.namespaces[key], query),
                namespace_key=key,
                cool_down_on_timeout=False,  # slow search does not mean slow events
            )

        results = await asyncio.gather(*(search(key) for key in keys), return_exceptions=True)
        sections: list[tuple[str, list[str]]] = []
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, BaseException):
                self._warn(f"retrieve_memory_records[{key}]", result)
                continue
            texts = record_texts(result, self.namespaces[key], self.top_k)
            if texts:
                sections.append((key, texts))
        return context_block(sections) if sections else None

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

    # -- short-term: save ---------------------------------------------------------------------------------

    @hook
    async def on_message_added(self, event: MessageAddedEvent) -> None:
        """Queue the message's text as one conversational event; the turn does not wait for the write.

        Writes run one after the other in the background (their timestamps are taken now, so the stored
        order is the conversation's order) and the end of the turn waits for them.
        """
        stored = message_text(event.message)
        if stored is None:
            return
        role, text = stored
        timestamp = self._next_timestamp()
        previous = self._writes
        if previous is not None and previous.get_loop() is not asyncio.get_running_loop():
            previous = None  # left over from a loop that is gone (a sync call of an earlier turn)

        load = self._history_load

        async def write() -> None:
            if previous is not None:
                await previous  # never raises
            elif load is not None and not load.done():
                # The history being loaded must not include this turn's own prompt: write after it.
                await asyncio.wait([asyncio.wrap_future(load)], timeout=self.timeout_seconds)
            try:
                await self._call("create_event", lambda: self._create_event(role, text, timestamp))
            except Exception as error:
                self._warn("create_event", error)

        self._writes = asyncio.ensure_future(write())

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


_CLIENTS: dict[tuple[str | None, ...], BaseClient] = {}
_CLIENTS_LOCK = threading.Lock()
# What botocore reads when it builds the client: a client made under other values would call elsewhere.
_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


def _shared_client(region: str | None) -> BaseClient:
    """One client per region and endpoint configuration for the process: building a boto3 client per request
    costs ~50 ms."""
    key = (region, *(os.environ.get(name) for name in _ENDPOINT_VARIABLES))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = make_memory_client(region=region)
        return _CLIENTS[key]
