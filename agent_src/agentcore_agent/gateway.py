"""The agent's side of the AgentCore Gateway: M2M token, one MCP session, per-turn semantic tool search.

Flow of one turn (a Strands `BeforeInvocationEvent` hook, i.e. inside the request):

1. Token: `@requires_access_token(provider_name=GATEWAY_CREDENTIAL_PROVIDER, scopes=GATEWAY_SCOPES,
   auth_flow="M2M")` calls AgentCore Identity `GetResourceOauth2Token` with the runtime's workload access
   token, which the SDK reads from the request context (`BedrockAgentCoreContext`, filled from the
   `WorkloadAccessToken` / `X-Amz-Bedrock-AgentCore-Identity-WAT` header). The client secret never reaches
   the container. The token is the agent's (not the user's), so one process-wide `TokenCache` keeps it until
   `REFRESH_MARGIN_SECONDS` before its JWT `exp` (`DEFAULT_TOKEN_TTL_SECONDS` when it is opaque); a 401/403
   from the gateway drops it. The fetch runs in the request's context so the workload token is available.
2. Search: `x_amz_bedrock_agentcore_search` with the user's prompt over one process-wide `MCPClient`
   (streamable HTTP). The bearer header is added per HTTP request from the cache, so the MCP session survives
   token refreshes. A started client that fails is discarded and the turn retried once on a fresh session
   and token (covers an expired server-side session or a revoked token).
3. Tools: only the search results are registered on the agent, as `MCPAgentTool`s bound to that client,
   and removed again after the turn, so every model call sees exactly this turn's relevant tools.

Why not the SDK's `AgentCoreToolSearchPlugin`: it swallows search failures (and `call_tool_sync` returns an
error result instead of raising, so a 401 or a dead gateway looks like "no tools matched"), so the user could
not be told; it blocks the SDK's single shared worker loop with `call_tool_sync`; its default intent provider
costs an extra LLM call per turn; and it has no token handling. The search-result parsing (structuredContent
or JSON text with `{"tools": [...]}`) follows the plugin.

Failures (token fetch, connect, 401, search error or timeout): the turn goes on without gateway tools, a
WARNING names the session id and the stage, and the user is told in two ways: the model's system prompt for
this turn says tools are unavailable (so it does not pretend to look things up), and the first streamed text
of the answer is `TOOLS_UNAVAILABLE_NOTE` (injected as the first content block of the model's first reply,
so it is deterministic, part of the stored assistant message, and needs no change to the SSE contract).
After a connect failure the gateway is skipped for `cool_down_seconds` so a dead endpoint costs one timeout.

Lifetime: one `Gateway` (token cache + MCP client + a small thread pool for blocking calls) per process,
because the M2M token and therefore the MCP session carry nothing user-specific; per-session state is only
the hook (`GatewayToolSearch`), which holds no connection, so evicting a session needs no cleanup.
`Gateway.close()` stops the MCP session at shutdown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Generator, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import jwt
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Tool as MCPTool
from strands.hooks import (
    AfterInvocationEvent,
    AgentInitializedEvent,
    BeforeInvocationEvent,
    HookProvider,
    HookRegistry,
)
from strands.middleware import InvokeModelStage
from strands.models.model import Model
from strands.tools.mcp import MCPClient
from strands.tools.mcp.mcp_agent_tool import MCPAgentTool
from strands.types.tools import ToolGenerator, ToolUse

from . import telemetry
from .messages import last_user_text

logger = logging.getLogger(__name__)

T = TypeVar("T")

SEARCH_TOOL_NAME = "x_amz_bedrock_agentcore_search"
REFRESH_MARGIN_SECONDS = 60.0
DEFAULT_TOKEN_TTL_SECONDS = 300.0
MAX_QUERY_CHARS = 2000
TOOLS_UNAVAILABLE_NOTE = (
    "(Note: my tools are unavailable right now, so I could not look anything up; "
    "this answer is based on general knowledge only.)\n\n"
)
TOOLS_UNAVAILABLE_PROMPT = (
    "IMPORTANT: your tools are unavailable for this turn (the tool gateway could not be reached). "
    "The user has already been told so. Do not claim to have looked anything up; answer from what you "
    "know, or say what you would need a tool for."
)


class GatewayUnavailableError(Exception):
    """The gateway cannot serve this turn; `stage` is token, connect or search."""

    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage = stage
        self.detail = detail


class TokenCache:
    """The agent's M2M token, fetched on demand and kept until shortly before it expires. Thread-safe."""

    def __init__(
        self,
        fetch: Callable[[], str],
        *,
        refresh_margin_seconds: float = REFRESH_MARGIN_SECONDS,
        default_ttl_seconds: float = DEFAULT_TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin_seconds
        self._default_ttl = default_ttl_seconds
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        """A valid token; fetches (blocking, in the caller's context) when missing or about to expire."""
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._expires_at - self._margin:
                return self._token
            token = self._fetch()
            if not isinstance(token, str) or not token:
                raise ValueError("the identity service returned an empty access token")
            self._token, self._expires_at = token, _expiry(token, now, self._default_ttl)
            return token

    def peek(self) -> str | None:
        """The cached token without fetching (for the HTTP auth hook, which runs outside the request)."""
        return self._token

    def invalidate(self) -> None:
        """Forget the token, e.g. after the gateway refused it."""
        with self._lock:
            self._token, self._expires_at = None, 0.0


def _expiry(token: str, now: float, default_ttl: float) -> float:
    """The JWT's `exp` (read without verification: the gateway verifies it), else now + default TTL."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return now + default_ttl
    return float(exp) if isinstance(exp, int | float) else now + default_ttl


def m2m_token_fetcher(provider_name: str, scopes: Sequence[str]) -> Callable[[], str]:
    """A blocking function returning the gateway's M2M token via AgentCore Identity (GetResourceOauth2Token).

    Decorated once here (the decorator builds boto3 clients); each call reads the workload access token
    from the calling request's context, so call it in that context (not from a bare thread).
    """
    from bedrock_agentcore.identity.auth import requires_access_token

    @requires_access_token(provider_name=provider_name, scopes=list(scopes), auth_flow="M2M")
    def fetch(*, access_token: str = "") -> str:
        return access_token

    return fetch


class _CachedBearer(httpx.Auth):
    """Adds `Authorization: Bearer <token>` from the cache to every gateway HTTP request."""

    def __init__(self, tokens: TokenCache) -> None:
        self._tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._tokens.peek()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


class Gateway:
    """Process-wide gateway access: token cache, one MCP client, tool search. See the module docstring."""

    def __init__(
        self,
        url: str,
        token_fetch: Callable[[], str],
        *,
        timeout_seconds: float = 5.0,
        cool_down_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self.tokens = TokenCache(token_fetch)
        self.timeout_seconds = timeout_seconds
        self.cool_down_seconds = cool_down_seconds
        self._auth = _CachedBearer(self.tokens)
        self._client: MCPClient | None = None
        self._client_lock = threading.Lock()
        self._unavailable_until = 0.0
        # Blocking work (token fetch, MCP start/stop) runs here, never on the SDK's shared worker loop, and a
        # hung call cannot starve the default executor the app uses for JWT verification.
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway")

    @classmethod
    def from_settings(cls, settings: Any) -> Gateway:
        """Build from `Settings`; raises ValueError when GATEWAY_URL is set without a credential provider."""
        if not settings.gateway_url:
            raise ValueError("GATEWAY_URL is not set")
        if not settings.gateway_credential_provider:
            raise ValueError("GATEWAY_CREDENTIAL_PROVIDER must be set when GATEWAY_URL is set")
        fetch = m2m_token_fetcher(settings.gateway_credential_provider, settings.gateway_scopes)
        return cls(settings.gateway_url, fetch)

    def hooks(self, session_id: str) -> GatewayToolSearch:
        """The per-agent hook provider for one session."""
        return GatewayToolSearch(self, session_id=session_id)

    async def search(self, query: str, *, session_id: str | None = None) -> list[MCPAgentTool]:
        """The tools relevant to `query`; raises `GatewayUnavailableError`. Never blocks the event loop.

        `session_id` goes on this turn's gateway spans (token, connect, search, each tool call).
        """
        if time.monotonic() < self._unavailable_until:
            raise GatewayUnavailableError("connect", "skipped: the gateway failed moments ago (cooling down)")
        await self._token(session_id)
        client, fresh = await self._run("connect", self._started_client, session_id)
        try:
            return await self._search_with(client, query, session_id)
        except GatewayUnavailableError as error:
            if fresh:
                raise
            logger.info("gateway session failed (%s); retrying once on a new session", error.detail)
            await self._discard(client)
            self.tokens.invalidate()
        await self._token(session_id)
        client, _ = await self._run("connect", self._started_client, session_id)
        return await self._search_with(client, query, session_id)

    def close(self) -> None:
        """Stop the MCP session and the worker threads (process shutdown)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            _stop_quietly(client)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- internals ----------------------------------------------------------------------------------------

    async def _token(self, session_id: str | None = None) -> str:
        return await self._run("token", self.tokens.get, session_id)

    async def _run(self, stage: str, call: Callable[[], T], session_id: str | None = None) -> T:
        """Run a blocking call on this gateway's threads in the request's context, traced, with a deadline.

        The copied context carries the workload access token to the identity call and the turn's span.
        """
        traced = telemetry.traced(f"agentcore.gateway.{stage}", session_id, call, _attributes(stage))
        future = telemetry.run_in_executor(self._executor, traced)
        try:
            return await asyncio.wait_for(future, self.timeout_seconds * 2)
        except GatewayUnavailableError:
            raise
        except TimeoutError:
            raise GatewayUnavailableError(
                stage, f"no answer within {self.timeout_seconds * 2:.0f} s"
            ) from None
        except Exception as error:
            raise GatewayUnavailableError(stage, _describe(error)) from None

    def _started_client(self) -> tuple[MCPClient, bool]:
        """The shared client, started on first use; `(client, True)` when it was started by this call."""
        with self._client_lock:
            if self._client is not None:
                return self._client, False
            client = MCPClient(self._transport, startup_timeout=max(1, math.ceil(self.timeout_seconds)))
            try:
                # The client's thread keeps the context it starts in and serves every later turn: without
                # the current span, so its HTTP spans are not filed under the turn that happened to start it.
                with telemetry.detached():
                    client.start()
            except Exception as error:
                if _http_status(error) in (401, 403):
                    self.tokens.invalidate()  # refused token: fetch a new one next turn
                else:
                    self._unavailable_until = time.monotonic() + self.cool_down_seconds
                raise GatewayUnavailableError("connect", _describe(error)) from None
            self._client = client
            return client, True

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncGenerator[Any, None]:
        """Streamable HTTP with our timeouts and the cached bearer token; closes its HTTP client on exit."""
        timeout = httpx.Timeout(self.timeout_seconds, read=max(self.timeout_seconds, 30.0))
        async with (
            httpx.AsyncClient(auth=self._auth, timeout=timeout, follow_redirects=True) as http,
            streamable_http_client(self.url, http_client=http) as streams,
        ):
            yield streams

    async def _search_with(
        self, client: MCPClient, query: str, session_id: str | None = None
    ) -> list[MCPAgentTool]:
        """Call the search tool; an error result or a malformed answer is a failure, not 'no tools'."""
        try:
            with telemetry.span("agentcore.gateway.search", session_id, _attributes("search")):
                result = await asyncio.wait_for(
                    client.call_tool_async(
                        tool_use_id="gateway-tool-search",
                        name=SEARCH_TOOL_NAME,
                        arguments={"query": query[:MAX_QUERY_CHARS]},
                        read_timeout_seconds=timedelta(seconds=self.timeout_seconds),
                    ),
                    self.timeout_seconds + 1,
                )
        except TimeoutError:
            raise GatewayUnavailableError(
                "search", f"no answer within {self.timeout_seconds:.0f} s"
            ) from None
        except Exception as error:
            raise GatewayUnavailableError("search", _describe(error)) from None
        if result.get("status") != "success":
            texts = " ".join(str(block.get("text", "")) for block in result.get("content", []))
            raise GatewayUnavailableError("search", texts[:300] or "the search tool returned an error")
        definitions = _tool_definitions(result)
        if definitions is None:
            raise GatewayUnavailableError("search", "the search result has no 'tools' list")
        tools = []
        for definition in definitions:
            if not isinstance(definition, Mapping) or not isinstance(definition.get("name"), str):
                continue
            if definition["name"] == SEARCH_TOOL_NAME:
                continue
            mcp_tool = MCPTool(
                name=definition["name"],
                description=str(definition.get("description") or ""),
                inputSchema=definition.get("inputSchema") or {"type": "object", "properties": {}},
            )
            tools.append(GatewayTool(mcp_tool=mcp_tool, mcp_client=client, session_id=session_id))
        return tools

    async def _discard(self, client: MCPClient) -> None:
        """Drop a failed client so the next call starts a fresh session."""
        with self._client_lock:
            if self._client is client:
                self._client = None
        await telemetry.run_in_executor(self._executor, lambda: _stop_quietly(client))


class GatewayTool(MCPAgentTool):
    """A gateway tool whose every call is an `agentcore.gateway.call_tool` span with the session id."""

    def __init__(self, *, mcp_tool: MCPTool, mcp_client: MCPClient, session_id: str | None) -> None:
        super().__init__(mcp_tool=mcp_tool, mcp_client=mcp_client)
        self.session_id = session_id

    async def stream(
        self, tool_use: ToolUse, invocation_state: dict[str, Any], **kwargs: Any
    ) -> ToolGenerator:
        """Collect the (single) result inside the span, then yield: a span never stays open across a yield."""
        attributes = {**_attributes("call_tool"), "agentcore.gateway.tool": self.tool_name}
        with telemetry.span("agentcore.gateway.call_tool", self.session_id, attributes):
            events = [event async for event in super().stream(tool_use, invocation_state, **kwargs)]
        for event in events:
            yield event


class GatewayToolSearch(HookProvider):
    """Per-agent hook: loads this turn's tools from the gateway, or tells model and user they are missing."""

    def __init__(self, gateway: Gateway, *, session_id: str) -> None:
        self.gateway = gateway
        self.session_id = session_id
        self.loaded: list[str] = []
        self.unavailable = False  # for the running turn only
        self._note_pending = False

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        """Install the model-call middleware once, then search before and unload after every turn."""
        registry.add_callback(AgentInitializedEvent, self.on_agent_initialized)
        registry.add_callback(BeforeInvocationEvent, self.on_before_invocation)
        registry.add_callback(AfterInvocationEvent, self.on_after_invocation)

    def on_agent_initialized(self, event: AgentInitializedEvent) -> None:
        """The middleware adds the 'tools unavailable' notice to model calls of a failed turn."""
        event.agent.add_middleware(InvokeModelStage.Input, self._on_model_call)

    async def on_before_invocation(self, event: BeforeInvocationEvent) -> None:
        """Search with the user's prompt and register only the results; on failure, degrade and warn."""
        agent = event.agent
        self._unload(agent)
        self.unavailable = self._note_pending = False
        query = last_user_text(event.messages or agent.messages)
        if not query:
            return
        try:
            tools = await self.gateway.search(query, session_id=self.session_id)
        except GatewayUnavailableError as error:
            logger.warning(
                "gateway tools unavailable in session %s (%s failed): %s",
                self.session_id,
                error.stage,
                error.detail,
                extra={"session_id": self.session_id, "gateway_stage": error.stage},
            )
            self.unavailable = self._note_pending = True
            return
        registry = agent.tool_registry
        for tool in tools:
            if tool.tool_name in registry.registry:
                continue  # a static tool of the same name wins; never replace it
            registry.register_tool(tool)
            self.loaded.append(tool.tool_name)
        logger.info("session %s: gateway tools for this turn: %s", self.session_id, self.loaded)

    def on_after_invocation(self, event: AfterInvocationEvent) -> None:
        """Unload this turn's tools: the next turn searches again with its own prompt."""
        self._unload(event.agent)
        self.unavailable = self._note_pending = False

    def _unload(self, agent: Any) -> None:
        for name in self.loaded:
            agent.tool_registry.registry.pop(name, None)
            agent.tool_registry.dynamic_tools.pop(name, None)
        self.loaded = []

    def _on_model_call(self, context: Any) -> Any:
        """During a failed turn: tell the model, and have its first reply start with the user-facing note."""
        if not self.unavailable:
            return context
        prompt = context.system_prompt
        blocks: list[Any] = (
            [] if prompt is None else [{"text": prompt}] if isinstance(prompt, str) else list(prompt)
        )
        changes: dict[str, Any] = {"system_prompt": [*blocks, {"text": TOOLS_UNAVAILABLE_PROMPT}]}
        if self._note_pending:
            changes["model"] = NoteFirstModel(context.model, TOOLS_UNAVAILABLE_NOTE, self._note_sent)
        return context.replace(**changes)

    def _note_sent(self) -> None:
        self._note_pending = False


class NoteFirstModel(Model):
    """Wraps a model so its reply starts with a fixed text block (streamed like any model text)."""

    def __init__(self, inner: Model, note: str, on_sent: Callable[[], None]) -> None:
        self.inner = inner
        self.note = note
        self._on_sent = on_sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def update_config(self, **model_config: Any) -> None:
        self.inner.update_config(**model_config)

    def get_config(self) -> Any:
        return self.inner.get_config()

    def structured_output(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.structured_output(*args, **kwargs)

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncIterable[Any]:  # type: ignore[override]
        """Insert the note right after the model's messageStart, before its own first content block."""
        sent = False
        async for event in self.inner.stream(*args, **kwargs):
            if not sent and "messageStart" not in event:
                sent = True
                yield {"contentBlockStart": {"start": {}}}
                yield {"contentBlockDelta": {"delta": {"text": self.note}}}
                yield {"contentBlockStop": {}}
                self._on_sent()
            yield event


def _attributes(stage: str) -> dict[str, str]:
    """Span attributes of a gateway operation (never the query or tool arguments)."""
    return {"agentcore.gateway.stage": stage}


def _tool_definitions(result: Mapping[str, Any]) -> list[Any] | None:
    """`{"tools": [...]}` from structuredContent, else from a JSON text block (as the SDK plugin reads it)."""
    structured = result.get("structuredContent")
    if isinstance(structured, Mapping) and isinstance(structured.get("tools"), list):
        return list(structured["tools"])
    for block in result.get("content", []):
        try:
            data = json.loads(block.get("text", ""))
        except (TypeError, ValueError):
            continue
        if isinstance(data, Mapping) and isinstance(data.get("tools"), list):
            return list(data["tools"])
    return None


def _leaves(error: BaseException) -> list[BaseException]:
    """The innermost exceptions: unwrap exception groups and causes (MCP/anyio nest them deeply)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    cause = error.__cause__ or error.__context__
    if cause is not None and cause is not error:
        return _leaves(cause)
    return [error]


def _describe(error: BaseException) -> str:
    """One line for the log: the root cause, not the wrapper ("TaskGroup had 1 sub-exception")."""
    leaf = _leaves(error)[0]
    return f"{type(leaf).__name__}: {leaf}"[:300]


def _http_status(error: BaseException) -> int | None:
    """The HTTP status behind a failure, if one of its root causes is an HTTP error response."""
    for leaf in _leaves(error):
        if isinstance(leaf, httpx.HTTPStatusError):
            return leaf.response.status_code
    return None


def _stop_quietly(client: MCPClient) -> None:
    """Stop a client whose session may already be dead; errors only matter to the log."""
    try:
        client.stop(None, None, None)
    except Exception as error:  # a dead session raises its close exception here
        logger.debug("closing the gateway MCP client: %s", _describe(error))
