"""Per-turn gateway tools: a Strands `Plugin` that offers each turn only the tools its prompt needs.

Before every turn the plugin starts a search of the gateway (gateway_client.py) with the user's prompt; the
turn's first model call (an `InvokeModelStage` input middleware) waits for it and registers only the results
on the agent. The search therefore runs concurrently with the other per-turn fetches (memory records and
history), and the wait before the model is the slowest of them, not their sum. After the turn the tools are
removed, so every model call sees exactly this turn's relevant tools. A static tool of the same name wins.

Why not the SDK's `AgentCoreToolSearchPlugin`: it swallows search failures (and `call_tool_sync` returns an
error result instead of raising, so a 401 or a dead gateway looks like "no tools matched"), so the user could
not be told; it blocks the SDK's single shared worker loop with `call_tool_sync`; its default intent provider
costs an extra LLM call per turn; and it has no token handling.

Failures (token fetch, connect, 401, search error or timeout): the turn goes on without gateway tools, a
WARNING names the session id and the stage, and the user is told in two ways: the model's system prompt for
this turn says tools are unavailable (so it does not pretend to look things up), and the first streamed text
of the answer is `TOOLS_UNAVAILABLE_NOTE`, put before the model's first reply by an `InvokeModelStage`
middleware (streamed as text and stored as the first block of the assistant message, so it is
deterministic and needs no change to the SSE contract).

Identity: the search, and every call of the tools it returns, runs on the verified caller's own gateway
session (the app passes the `Caller` in the turn's `invocation_state`; gateway_client.py). The plugin is per
agent (one user's session) and holds no connection, so evicting an agent needs no cleanup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from strands.hooks import AfterInvocationEvent, BeforeInvocationEvent
from strands.middleware import InvokeModelStage
from strands.middleware.stages import InvokeModelContext
from strands.plugins import Plugin, hook
from strands.types.events import ModelStopReason, TypedEvent

from .auth import CALLER_STATE, Caller
from .gateway_client import Gateway, GatewayUnavailableError
from .messages import last_user_text
from .system_prompt import with_block

logger = logging.getLogger(__name__)

TOOLS_UNAVAILABLE_NOTE = (
    "(Note: my tools are unavailable right now, so I could not look anything up; "
    "this answer is based on general knowledge only.)\n\n"
)
TOOLS_UNAVAILABLE_PROMPT = (
    "IMPORTANT: your tools are unavailable for this turn (the tool gateway could not be reached). "
    "The user has already been told so. Do not claim to have looked anything up; answer from what you "
    "know, or say what you would need a tool for."
)


class GatewayToolSearch(Plugin):
    """Loads this turn's tools from the gateway, or tells model and user they are missing."""

    name = "agentcore:gateway-tool-search"

    def __init__(self, gateway: Gateway, *, session_id: str, actor_id: str | None = None) -> None:
        """`actor_id` is the agent's owner: a turn whose verified caller is someone else gets no tools."""
        super().__init__()
        self.gateway = gateway
        self.session_id = session_id
        self.actor_id = actor_id
        self.loaded: list[str] = []
        self.unavailable = False  # for the running turn only
        self._note_pending = False
        self._search: asyncio.Future[list[Any]] | None = (
            None  # started before the turn, awaited at its first model call
        )

    def init_agent(self, agent: Any) -> None:
        """The middleware tells the model of a failed turn, and puts the note before its first reply."""
        agent.add_middleware(InvokeModelStage.Input, self._load_tools)
        agent.add_middleware(InvokeModelStage, self._note_first)

    @hook
    async def on_before_invocation(self, event: BeforeInvocationEvent) -> None:
        """Start the search with the user's prompt; the first model call waits for it (`_load_tools`).

        Not awaited here, so the search runs while the other plugins fetch their context for the turn.
        """
        self._unload(event.agent)
        query = last_user_text(event.messages or event.agent.messages)
        if query:
            caller = (event.invocation_state or {}).get(CALLER_STATE)
            self._search = asyncio.ensure_future(self._search_as(caller, query))

    async def _search_as(self, caller: Caller | None, query: str) -> list[Any]:
        """Search on the caller's own gateway session (defence in depth: never for another user's agent)."""
        if caller is not None and self.actor_id is not None and caller.actor_id != self.actor_id:
            raise GatewayUnavailableError("token", "the verified caller does not own this session")
        return await self.gateway.search(query, caller=caller, session_id=self.session_id)

    @hook
    def on_after_invocation(self, event: AfterInvocationEvent) -> None:
        """Unload this turn's tools: the next turn searches again with its own prompt."""
        self._unload(event.agent)

    def _unload(self, agent: Any) -> None:
        """Forget everything of the previous turn: its tools, its failure, an unfinished search."""
        if self._search is not None:
            self._search.cancel()
            self._search = None
        for name in self.loaded:
            agent.tool_registry.registry.pop(name, None)
            agent.tool_registry.dynamic_tools.pop(name, None)
        self.loaded = []
        self.unavailable = self._note_pending = False

    async def _load_tools(self, context: InvokeModelContext) -> InvokeModelContext:
        """First model call of a turn: register the search results (or degrade); every call of a failed
        turn is told in its system prompt that the tools are unavailable."""
        if self._search is not None:
            search, self._search = self._search, None
            try:
                tools = await search
            except GatewayUnavailableError as error:
                logger.warning(
                    "gateway tools unavailable in session %s (%s failed): %s",
                    self.session_id,
                    error.stage,
                    error.detail,
                    extra={"session_id": self.session_id, "gateway_stage": error.stage},
                )
                self.unavailable = self._note_pending = True
            else:
                context = context.replace(tool_specs=[*context.tool_specs, *self._register(context, tools)])
        return with_block(context, TOOLS_UNAVAILABLE_PROMPT) if self.unavailable else context

    def _register(self, context: InvokeModelContext, tools: list[Any]) -> list[Any]:
        """Register the found tools on the agent (later calls of the turn see them); their specs."""
        registry = context.agent.tool_registry
        specs = []
        for tool in tools:
            if tool.tool_name in registry.registry:
                continue  # a static tool of the same name wins; never replace it
            registry.register_tool(tool)
            self.loaded.append(tool.tool_name)
            specs.append(tool.tool_spec)
        logger.info("session %s: gateway tools for this turn: %s", self.session_id, self.loaded)
        return specs

    async def _note_first(
        self, context: InvokeModelContext, next_fn: Any
    ) -> AsyncGenerator[TypedEvent, None]:
        """On the first model call of a failed turn: stream the note first and store it in the reply."""
        if not self._note_pending:
            async for event in next_fn(context):
                yield event
            return
        self._note_pending = False
        note = TOOLS_UNAVAILABLE_NOTE
        yield TypedEvent({"data": note, "delta": {"text": note}})
        async for event in next_fn(context):
            if isinstance(event, ModelStopReason):
                message = {**event.message, "content": [{"text": note}, *event.message["content"]]}
                event = ModelStopReason(event.stop_reason, message, event.usage, event.metrics)
            yield event
