"""The agent's MCP sessions with the AgentCore Gateway, one per user, and their semantic tool search.

Identity: tool calls made for a user reach the gateway with THAT user's identity. The app verifies the
caller's access token (auth.py) and hands the verified `Caller` to the turn; `Gateway.search(query,
caller=...)` uses a per-user MCP session keyed by the verified `sub`, whose bearer header is always that
user's latest verified token (updated on each of their turns, so a token refresh keeps the session). A
session is only ever looked up by its user's `sub` and only ever given that user's token, so no session can
carry another user's identity; there is no process-wide session. Sessions are kept in a bounded LRU
(`max_sessions`); an evicted session is closed at once, and `close()` closes them all at shutdown.

The agent's own M2M token (gateway_token.py) is used only for turns without a verified user, i.e. when the
agent runs with auth off (local development). With auth on, which every deployed stage has, every turn has
a user, so the M2M token is never fetched: the gateway's policies can then treat that client as having no
access to customer data.

`Gateway.search` calls `x_amz_bedrock_agentcore_search` and returns the matching tools as `GatewayTool`s
bound to the caller's session. A 401/403 fails the turn's search (a refused M2M token is dropped and
fetched again next turn; a user's token can only be replaced by the user). A started session that fails is
closed and the search retried once on a fresh one (covers an expired server-side session). After a connect
failure the gateway is skipped for `cool_down_seconds` (resilience.py), so a dead endpoint costs one timeout.

Every failure (token, connect, search, timeout) is one `GatewayUnavailableError` naming its stage; the
search-result parsing (structuredContent or JSON text with `{"tools": [...]}`) follows the SDK's plugin.
Blocking work (token fetch, MCP start/stop) runs on this gateway's own threads, never on the SDK's shared
worker loop, so a hung call cannot starve the default executor the app uses for JWT verification.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import math
import ssl
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Tool as MCPTool
from strands.tools.mcp import MCPClient
from strands.tools.mcp.mcp_agent_tool import MCPAgentTool
from strands.types.tools import ToolGenerator, ToolUse

from . import telemetry
from .auth import Caller
from .gateway_token import TokenCache, m2m_token_fetcher
from .resilience import CoolDown, call_with_deadline

logger = logging.getLogger(__name__)

T = TypeVar("T")

SEARCH_TOOL_NAME = "x_amz_bedrock_agentcore_search"
MAX_QUERY_CHARS = 2000
MAX_SESSIONS = 256  # open per-user MCP sessions; the least recently used is closed beyond this
AGENT_SESSION = "agent"  # the key of the M2M session (user keys are "user:<sub>", so they never collide)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every MCP session: httpx builds one per client by loading the CA bundle (~35 ms
    here), which a user's first turn would otherwise wait for."""
    return httpx.create_ssl_context()


class GatewayUnavailableError(Exception):
    """The gateway cannot serve this turn; `stage` is token, connect or search."""

    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage = stage
        self.detail = detail


class _Session(httpx.Auth):
    """One MCP session and the bearer token its HTTP requests carry (a user's, or the agent's from the cache).

    As an `httpx.Auth` it adds `Authorization: Bearer <token>` to every request of this session only.
    """

    def __init__(self, key: str, token: Callable[[], str | None]) -> None:
        self.key = key
        self.user_token: str | None = None  # the user's latest verified token (user sessions)
        self._token = token
        self.client: MCPClient | None = None
        self.closed = False
        self.lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.user_token or self._token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def close(self) -> None:
        """Stop the MCP client (blocking); the session cannot be started again."""
        with self.lock:
            self.closed = True
            client, self.client = self.client, None
        if client is not None:
            _stop_quietly(client)


class Gateway:
    """Gateway access for the process: per-user MCP sessions and tool search. See the module docstring."""

    def __init__(
        self,
        url: str,
        token_fetch: Callable[[], str] | None = None,
        *,
        timeout_seconds: float = 5.0,
        cool_down_seconds: float = 10.0,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.url = url
        self.tokens = TokenCache(token_fetch) if token_fetch is not None else None
        self.timeout_seconds = timeout_seconds
        self.cool_down = CoolDown(cool_down_seconds)
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway")

    @classmethod
    def from_settings(cls, settings: Any) -> Gateway:
        """Build from `Settings`; the M2M token is set up only when auth is off (no user token to forward).

        Raises ValueError when GATEWAY_URL is set, auth is off and no credential provider is configured.
        """
        if not settings.gateway_url:
            raise ValueError("GATEWAY_URL is not set")
        if settings.auth_enabled:
            return cls(settings.gateway_url)  # every turn forwards its verified user's token
        if not settings.gateway_credential_provider:
            raise ValueError(
                "GATEWAY_CREDENTIAL_PROVIDER must be set when GATEWAY_URL is set and auth is off "
                "(without a verified user the agent calls the gateway with its own M2M token)"
            )
        fetch = m2m_token_fetcher(settings.gateway_credential_provider, settings.gateway_scopes)
        return cls(settings.gateway_url, fetch)

    def session_keys(self) -> list[str]:
        """The open sessions, least recently used first ("user:<sub>" or "agent")."""
        with self._lock:
            return list(self._sessions)

    async def search(
        self, query: str, *, caller: Caller | None = None, session_id: str | None = None
    ) -> list[MCPAgentTool]:
        """The tools relevant to `query`, bound to the caller's session; raises `GatewayUnavailableError`.

        `caller` is the turn's verified caller (None or without a token: the agent's own M2M session).
        `session_id` goes on this turn's gateway spans (token, connect, search, each tool call).
        Never blocks the event loop.
        """
        if self.cool_down.active:
            raise GatewayUnavailableError("connect", "skipped: the gateway failed moments ago (cooling down)")
        key, user_token = await self._identity(caller, session_id)
        session, fresh = await self._run("connect", lambda: self._started(key, user_token), session_id)
        try:
            return await self._search_with(session, query, session_id)
        except GatewayUnavailableError as error:
            if fresh:
                raise
            logger.info("gateway session failed (%s); retrying once on a new session", error.detail)
            await telemetry.run_in_executor(self._executor, lambda: self._discard(session))
        key, user_token = await self._identity(caller, session_id)
        session, _ = await self._run("connect", lambda: self._started(key, user_token), session_id)
        return await self._search_with(session, query, session_id)

    def close(self) -> None:
        """Close every MCP session and stop the worker threads (process shutdown)."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- internals ----------------------------------------------------------------------------------------

    async def _identity(self, caller: Caller | None, session_id: str | None) -> tuple[str, str | None]:
        """(session key, the user's token) for a verified user; else the agent's, with its token fetched."""
        if caller is not None and caller.access_token:
            return f"user:{caller.actor_id}", caller.access_token
        if self.tokens is None:
            raise GatewayUnavailableError(
                "token", "no verified user token to forward, and no agent credential provider configured"
            )
        await self._run("token", self.tokens.get, session_id)
        return AGENT_SESSION, None

    async def _run(self, stage: str, call: Callable[[], T], session_id: str | None = None) -> T:
        """A blocking call on this gateway's threads, traced, with a deadline; failures name the stage."""
        traced = telemetry.traced(f"agentcore.gateway.{stage}", session_id, call, _attributes(stage))
        try:
            return await call_with_deadline(self._executor, traced, self.timeout_seconds * 2)
        except GatewayUnavailableError:
            raise
        except Exception as error:
            raise GatewayUnavailableError(stage, _describe(error)) from None

    def _started(self, key: str, user_token: str | None) -> tuple[_Session, bool]:
        """The session of `key` with its bearer set to `user_token`, started on first use (blocking).

        Returns `(session, True)` when this call started it. Sessions beyond `max_sessions` are closed,
        least recently used first.
        """
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = self._sessions[key] = _Session(key, self._agent_token)
            self._sessions.move_to_end(key)
            if user_token is not None:
                session.user_token = user_token  # always the user's latest verified token
            evicted = []
            while len(self._sessions) > self.max_sessions:
                evicted.append(self._sessions.popitem(last=False)[1])
        for old in evicted:
            logger.info("closing the gateway session of %s (least recently used)", old.key)
            old.close()
        with session.lock:
            if session.closed:
                raise GatewayUnavailableError("connect", "the session was closed while it was being opened")
            if session.client is not None:
                return session, False
            client = MCPClient(
                lambda: self._transport(session), startup_timeout=max(1, math.ceil(self.timeout_seconds))
            )
            try:
                # The client's thread keeps the context it starts in and serves every later turn: without
                # the current span, so its HTTP spans are not filed under the turn that happened to start it.
                with telemetry.detached():
                    client.start()
            except Exception as error:
                if _http_status(error) in (401, 403):
                    if key == AGENT_SESSION and self.tokens is not None:
                        self.tokens.invalidate()  # refused token: fetch a new one next turn
                else:
                    self.cool_down.trip()
                raise GatewayUnavailableError("connect", _describe(error)) from None
            session.client = client
            return session, True

    def _agent_token(self) -> str | None:
        """The cached M2M token for the agent's own session (never fetched from an HTTP hook)."""
        return self.tokens.peek() if self.tokens is not None else None

    @contextlib.asynccontextmanager
    async def _transport(self, session: _Session) -> AsyncGenerator[Any, None]:
        """Streamable HTTP with our timeouts and the session's bearer; closes its HTTP client on exit."""
        timeout = httpx.Timeout(self.timeout_seconds, read=max(self.timeout_seconds, 30.0))
        async with (
            httpx.AsyncClient(
                auth=session, timeout=timeout, follow_redirects=True, verify=tls_context()
            ) as http,
            streamable_http_client(self.url, http_client=http) as streams,
        ):
            yield streams

    async def _search_with(
        self, session: _Session, query: str, session_id: str | None = None
    ) -> list[MCPAgentTool]:
        """Call the search tool; an error result or a malformed answer is a failure, not 'no tools'."""
        client = session.client
        if client is None:
            raise GatewayUnavailableError("search", "the session was closed")
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

    def _discard(self, session: _Session) -> None:
        """Close a failed session (blocking) so the next call starts a fresh one; a refused M2M token goes."""
        with self._lock:
            if self._sessions.get(session.key) is session:
                del self._sessions[session.key]
        session.close()
        if session.key == AGENT_SESSION and self.tokens is not None:
            self.tokens.invalidate()


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
