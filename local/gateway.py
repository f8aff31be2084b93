"""Local AgentCore Gateway (emulator + test double): a streamable-HTTP MCP server before the real handlers.

What it reproduces (see /work/shared/AGENTCORE_FACTS.md, Gateway section):
- inbound auth: every request needs `Authorization: Bearer <token>`, otherwise HTTP 401;
- one target per `lambdas/<target>/tools.json` (target name = directory name); tools are listed as
  `<target>___<tool>` with the input schema the gateway would serve, i.e. tools.json projected onto the
  gateway's SchemaDefinition subset by `gateway_tool.gateway_tool_definitions` (the same projection the CDK
  stack deploys, so the agent sees in tests what it sees in AWS);
- `x_amz_bedrock_agentcore_search` taking `{"query": str}` and returning `{"tools": [{name, description,
  inputSchema}, ...]}` as structuredContent and as JSON text (the shape `AgentCoreToolSearchPlugin` reads).
  The real gateway ranks with embeddings (SEMANTIC search); this double ranks lexically (BM25 over tool name,
  description and argument names/descriptions), so only use queries that share words with the intended tool;
- tools/call invokes the real `handler.lambda_handler` in-process (in a worker thread, as Lambda would run it
  concurrently) with the arguments as `event` and a context whose `client_context.custom` carries the
  prefixed tool name and the gateway ids; the handler's dict comes back as one JSON text content block.
Not reproduced: the gateway's own input validation (the handlers validate), Lambda timeouts, IAM.
"""

from __future__ import annotations

import functools
import hmac
import json
import math
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import uvicorn
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from local.lambda_context import (
    LAMBDAS_DIR,
    SEPARATOR,
    SHARED_LAYER_DIR,
    gateway_context,
    load_handler,
)

SEARCH_TOOL_NAME = "x_amz_bedrock_agentcore_search"
SEARCH_RESULT_LIMIT = 10
MCP_PATH = "/mcp"


@dataclass(frozen=True)
class GatewayTool:
    """One tool as the gateway lists it, with the target that serves it."""

    target: str
    tool: str
    description: str
    input_schema: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.target}{SEPARATOR}{self.tool}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "inputSchema": self.input_schema}


def discover_targets(lambdas_dir: Path) -> tuple[dict[str, ModuleType], list[GatewayTool]]:
    """Every `lambdas_dir/<target>/tools.json` becomes a target whose handler is imported for real."""
    if str(SHARED_LAYER_DIR) not in sys.path:
        sys.path.insert(0, str(SHARED_LAYER_DIR))
    from gateway_tool.schema import gateway_tool_definitions, load_tools

    handlers: dict[str, ModuleType] = {}
    tools: list[GatewayTool] = []
    for tools_json in sorted(lambdas_dir.glob("*/tools.json")):
        target = tools_json.parent.name
        handlers[target] = load_handler(tools_json.parent)
        for definition in gateway_tool_definitions(load_tools(tools_json)):
            tools.append(
                GatewayTool(target, definition["name"], definition["description"], definition["inputSchema"])
            )
    return handlers, tools


_WORD = re.compile(r"[a-z0-9]+")


def _terms(text: str) -> list[str]:
    """Lower-case words with a naive plural strip: the lexical stand-in for an embedding model."""
    return [
        word[:-1] if len(word) > 3 and word.endswith("s") else word for word in _WORD.findall(text.lower())
    ]


class LexicalIndex:
    """BM25 over each tool's name (weighted x3), description and argument names/descriptions."""

    def __init__(self, tools: list[GatewayTool], k1: float = 1.2, b: float = 0.75) -> None:
        self.tools, self.k1, self.b = tools, k1, b
        self.docs = [Counter(self._document(tool)) for tool in tools]
        self.avg_len = sum(sum(doc.values()) for doc in self.docs) / max(len(self.docs), 1)
        frequency = Counter(term for doc in self.docs for term in doc)
        count = len(self.docs)
        self.idf = {term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in frequency.items()}

    @staticmethod
    def _document(tool: GatewayTool) -> list[str]:
        arguments = " ".join(
            f"{name} {spec.get('description', '')}"
            for name, spec in tool.input_schema.get("properties", {}).items()
        )
        return _terms(tool.tool.replace("_", " ")) * 3 + _terms(tool.description) + _terms(arguments)

    def search(self, query: str, limit: int = SEARCH_RESULT_LIMIT) -> list[GatewayTool]:
        """Tools sharing at least one term with the query, best first."""
        terms = set(_terms(query))
        scored: list[tuple[float, str, GatewayTool]] = []
        for tool, doc in zip(self.tools, self.docs, strict=True):
            length = sum(doc.values())
            score = sum(
                self.idf.get(term, 0.0)
                * doc[term]
                * (self.k1 + 1)
                / (doc[term] + self.k1 * (1 - self.b + self.b * length / self.avg_len))
                for term in terms
                if term in doc
            )
            if score > 0:
                scored.append((score, tool.name, tool))
        scored.sort(key=lambda entry: (-entry[0], entry[1]))
        return [tool for _, _, tool in scored[:limit]]


SEARCH_TOOL = types.Tool(
    name=SEARCH_TOOL_NAME,
    description=(
        "Search the gateway's tools by what you want to do. Returns the tools most relevant to the query "
        "as {tools: [{name, description, inputSchema}]}."
    ),
    inputSchema={
        "type": "object",
        "properties": {"query": {"type": "string", "description": "What you want to do, in plain words."}},
        "required": ["query"],
    },
)


def build_server(lambdas_dir: Path, *, search_delay_seconds: float = 0.0) -> Server:
    """The MCP server: tools/list, tools/call (to the real handlers) and the search tool.

    `search_delay_seconds` is added to every search answer (a slow semantic search, for benchmarks).
    """
    handlers, tools = discover_targets(lambdas_dir)
    by_name = {tool.name: tool for tool in tools}
    index = LexicalIndex(tools)
    server: Server = Server("local-agentcore-gateway")

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        listed = [
            types.Tool(name=t.name, description=t.description, inputSchema=t.input_schema) for t in tools
        ]
        return [*listed, SEARCH_TOOL]

    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict[str, Any] | None) -> Any:
        arguments = arguments or {}
        if name == SEARCH_TOOL_NAME:
            if search_delay_seconds:
                await anyio.sleep(search_delay_seconds)
            found = {"tools": [tool.as_dict() for tool in index.search(str(arguments.get("query", "")))]}
            return [types.TextContent(type="text", text=json.dumps(found))], found
        if name not in by_name:
            raise ValueError(f"Unknown tool: {name}")
        tool = by_name[name]
        context = gateway_context(tool.target, tool.tool)
        invoke = functools.partial(handlers[tool.target].lambda_handler, dict(arguments), context)
        result = await anyio.to_thread.run_sync(invoke)
        return [types.TextContent(type="text", text=json.dumps(result, default=str))]

    return server


class BearerAuth:
    """ASGI middleware: 401 unless `Authorization: Bearer <token>` matches (constant-time compare)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            supplied = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(supplied, self.expected):
                response = JSONResponse(
                    {"message": "Unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(*, bearer_token: str, lambdas_dir: Path, search_delay_seconds: float = 0.0) -> ASGIApp:
    """Starlette app serving MCP streamable HTTP at /mcp, behind bearer auth."""
    server = build_server(lambdas_dir, search_delay_seconds=search_delay_seconds)
    manager = StreamableHTTPSessionManager(app=server, stateless=True)

    class MCPEndpoint:
        """An ASGI class (not a function) so Starlette passes scope/receive/send through untouched."""

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await manager.handle_request(scope, receive, send)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    app = Starlette(lifespan=lifespan)
    app.router.add_route(MCP_PATH, MCPEndpoint(), methods=["GET", "POST", "DELETE"])
    return BearerAuth(app, bearer_token)


@contextmanager
def running_gateway(
    *, bearer_token: str, lambdas_dir: Path = LAMBDAS_DIR, search_delay_seconds: float = 0.0
) -> Iterator[str]:
    """Yields the MCP endpoint URL, e.g. http://127.0.0.1:54321/mcp"""
    app = build_app(
        bearer_token=bearer_token, lambdas_dir=lambdas_dir, search_delay_seconds=search_delay_seconds
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="local-gateway", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("local gateway did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}{MCP_PATH}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
