"""The agent's MCP connection to the AgentCore Gateway and its semantic tool search.

`Gateway.search(query)` calls `x_amz_bedrock_agentcore_search` over one process-wide `MCPClient`
(streamable HTTP) and returns the matching tools as `GatewayTool`s bound to that client. The bearer header
is added per HTTP request from the token cache (gateway_token.py), so the MCP session survives token
refreshes; a 401/403 drops the token. A started client that fails is discarded and the search retried once
on a fresh session and token (covers an expired server-side session or a revoked token). After a connect
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
import json
import logging
import math
import threading
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
from .gateway_token import TokenCache, m2m_token_fetcher
from .resilience import CoolDown, call_with_deadline

logger = logging.getLogger(__name__)

T = TypeVar("T")

SEARCH_TOOL_NAME = "x_amz_bedrock_agentcore_search"
MAX_QUERY_CHARS = 2000


class GatewayUnavailableError(Exception):
    """The gateway cannot serve this turn; `stage` is token, connect or search."""

    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage = stage
        self.detail = detail


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
        self.cool_down = CoolDown(cool_down_seconds)
        self._auth = _CachedBearer(self.tokens)
        self._client: MCPClient | None = None
        self._client_lock = threading.Lock()
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

    async def search(self, query: str, *, session_id: str | None = None) -> list[MCPAgentTool]:
        """The tools relevant to `query`; raises `GatewayUnavailableError`. Never blocks the event loop.

        `session_id` goes on this turn's gateway spans (token, connect, search, each tool call).
        """
        if self.cool_down.active:
            raise GatewayUnavailableError("connect", "skipped: the gateway failed moments ago (cooling down)")
        await self._run("token", self.tokens.get, session_id)
        client, fresh = await self._run("connect", self._started_client, session_id)
        try:
            return await self._search_with(client, query, session_id)
        except GatewayUnavailableError as error:
            if fresh:
                raise
            logger.info("gateway session failed (%s); retrying once on a new session", error.detail)
            await self._discard(client)
            self.tokens.invalidate()
        await self._run("token", self.tokens.get, session_id)
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

    async def _run(self, stage: str, call: Callable[[], T], session_id: str | None = None) -> T:
        """A blocking call on this gateway's threads, traced, with a deadline; failures name the stage."""
        traced = telemetry.traced(f"agentcore.gateway.{stage}", session_id, call, _attributes(stage))
        try:
            return await call_with_deadline(self._executor, traced, self.timeout_seconds * 2)
        except GatewayUnavailableError:
            raise
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
                    self.cool_down.trip()
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
