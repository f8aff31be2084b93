"""Local AgentCore Gateway (emulator + test double): a streamable-HTTP MCP server before the real handlers.

What it reproduces (see /work/shared/AGENTCORE_FACTS.md, Gateway section):
- inbound auth: every request needs `Authorization: Bearer <token>`, otherwise HTTP 401. With a
  `JwtAuthorizer` the token is verified like the CUSTOM_JWT authorizer (RS256 against the issuer's JWKS,
  issuer, expiry, access token, `client_id` in the allowed clients); with a static `bearer_token` (tests
  that are not about authorization) the token stands for an operator (`STATIC_CLAIMS`);
- authorization, in the gateway's order: every tools/call goes through the REAL request interceptor
  (`lambdas/interceptor`, given the request headers; a `transformedGatewayResponse` answers directly), then
  the REAL Cedar policies (`policies/*.cedar`, evaluated by `policies.authorizer` from the token's claims and
  the interceptor's arguments, default deny), then the target;
- one target per `lambdas/<target>/tools.json` (target name = directory name); tools are listed as
  `<target>___<tool>` with the input schema the gateway would serve, i.e. tools.json projected onto the
  gateway's SchemaDefinition subset by `gateway_tool.gateway_tool_definitions` (the same projection the CDK
  stack deploys, so the agent sees in tests what it sees in AWS);
- `x_amz_bedrock_agentcore_search` taking `{"query": str}` and returning `{"tools": [{name, description,
  inputSchema}, ...]}` as structuredContent and as JSON text (the shape `AgentCoreToolSearchPlugin` reads).
  The real gateway ranks with embeddings (SEMANTIC search); this double ranks lexically (BM25 over tool name,
  description and argument names/descriptions), so only use queries that share words with the intended tool;
- answers as a single JSON response (not an SSE stream), as the deployed gateway does without
  `streamingConfiguration.enableResponseStreaming` (stacks/gateway_stack.py leaves it off);
- tools/call invokes the real `handler.lambda_handler` in-process (in a worker thread, as Lambda would run it
  concurrently) with the arguments as `event` and a context whose `client_context.custom` carries the
  prefixed tool name and the gateway ids; the handler's dict becomes one JSON text content block, which
  then goes through the same interceptor as the RESPONSE interceptor (no headers), so a handler's
  `{"error": ...}` comes back with `isError: true` like the interceptor's and the policies' refusals.
Not reproduced: the gateway's own input validation (the handlers validate), Lambda timeouts, IAM, the exact
wording of AgentCore's policy refusal (here a tool error with code PERMISSION_DENIED).
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import math
import re
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import jwt
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from local.asgi_server import serving
from local.http_server import bound_socket
from local.lambda_context import (
    LAMBDAS_DIR,
    SEPARATOR,
    SHARED_LAYER_DIR,
    gateway_context,
    load_handler,
)
from policies.authorizer import authorize

SEARCH_TOOL_NAME = "x_amz_bedrock_agentcore_search"
SEARCH_RESULT_LIMIT = 10
MCP_PATH = "/mcp"
# The version the local gateway announces. Given, so the MCP SDK does not read its own package metadata
# (importlib.metadata, ~2 ms) for every request: a stateless server builds its initialize options per request.
SERVER_VERSION = "local"
CLAIMS_SCOPE_KEY = "agentcore.gateway.claims"  # the ASGI scope entry BearerAuth puts the verified claims in
LOCAL_GATEWAY_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/local-gateway-abcdefghij"
STATIC_ISSUER = "https://local-gateway.invalid/static"
STATIC_CLIENT = "local-static-client"
STATIC_CLAIMS: dict[str, Any] = {
    "sub": "local-static-operator",
    "client_id": STATIC_CLIENT,
    "token_use": "access",
    "iss": STATIC_ISSUER,
    "exp": 4_102_444_800,  # 2100-01-01
    "role": "operator",
}
"""Who a static `bearer_token` stands for: an operator, so tests not about authorization reach every tool."""


@dataclass(frozen=True)
class JwtAuthorizer:
    """The gateway's CUSTOM_JWT authorizer for one user pool: user clients and machine (M2M) clients."""

    issuer: str
    user_clients: frozenset[str]
    machine_clients: frozenset[str] = frozenset()

    @functools.cached_property
    def _keys(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(f"{self.issuer}/.well-known/jwks.json")

    def verify(self, token: str) -> dict[str, Any] | None:
        """The token's claims if the gateway would accept it, else None (HTTP 401)."""
        try:
            key = self._keys.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token, key, algorithms=["RS256"], issuer=self.issuer, options={"verify_aud": False}
            )
        except jwt.PyJWTError:
            return None
        allowed = claims.get("client_id") in self.user_clients | self.machine_clients
        return claims if allowed and claims.get("token_use") == "access" else None

    def interceptor_settings(self) -> Any:
        return _interceptor().Settings(self.issuer, self.user_clients, self.machine_clients)


@dataclass(frozen=True)
class StaticToken:
    """One opaque token accepted as STATIC_CLAIMS (constant-time compare)."""

    token: str

    def verify(self, token: str) -> dict[str, Any] | None:
        return dict(STATIC_CLAIMS) if hmac.compare_digest(token.encode(), self.token.encode()) else None

    def interceptor_settings(self) -> Any:
        return _interceptor().Settings(STATIC_ISSUER, frozenset({STATIC_CLIENT}), frozenset())


Authorizer = JwtAuthorizer | StaticToken


def _interceptor() -> ModuleType:
    return load_handler(LAMBDAS_DIR / "interceptor")


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    """What the interceptor reads for a static token: the claims as a JWT (it reads, never verifies)."""
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none'})}.{part(claims)}."


@dataclass(frozen=True)
class Decision:
    """One authorization outcome the double saw (for tests to tell Cedar's refusals from the handlers')."""

    tool: str
    sub: str
    stage: str  # "interceptor" | "search" | "policy" | "target"
    allowed: bool


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


def _refused(message: str) -> types.CallToolResult:
    error = {"error": {"code": "PERMISSION_DENIED", "message": message, "retryable": False}}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(error))], isError=True
    )


def build_server(
    lambdas_dir: Path,
    authorizer: Authorizer,
    gateway_arn: str,
    audit: list[Decision] | None,
    *,
    search_delay_seconds: float = 0.0,
) -> Server:
    """The MCP server: tools/list, tools/call (interceptor, Cedar, real handlers) and the search tool.

    `search_delay_seconds` is added to every search answer (a slow semantic search, for benchmarks).
    """
    handlers, tools = discover_targets(lambdas_dir)
    by_name = {tool.name: tool for tool in tools}
    index = LexicalIndex(tools)
    server: Server = Server("local-agentcore-gateway", version=SERVER_VERSION)
    interceptor, settings = _interceptor(), authorizer.interceptor_settings()
    record = audit.append if audit is not None else lambda decision: None

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        listed = [
            types.Tool(name=t.name, description=t.description, inputSchema=t.input_schema) for t in tools
        ]
        return [*listed, SEARCH_TOOL]

    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict[str, Any] | None) -> Any:
        request = server.request_context.request
        token = request.headers.get("authorization", "").partition(" ")[2]
        claims = request.scope[CLAIMS_SCOPE_KEY]  # verified once, by BearerAuth
        header = f"Bearer {_unsigned_jwt(claims) if isinstance(authorizer, StaticToken) else token}"
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name}}
        body["params"]["arguments"] = arguments or {}
        request = {"path": MCP_PATH, "httpMethod": "POST", "headers": {"Authorization": header}, "body": body}
        event = {
            "interceptorInputVersion": "1.0",
            "mcp": {"rawGatewayRequest": {"body": json.dumps(body)}, "gatewayRequest": request},
        }
        output = (await anyio.to_thread.run_sync(interceptor.intercept, event, settings))["mcp"]
        sub = str(claims.get("sub", ""))
        if "transformedGatewayResponse" in output:
            record(Decision(name, sub, "interceptor", False))
            result = output["transformedGatewayResponse"]["body"]["result"]
            return types.CallToolResult.model_validate(result)
        arguments = output["transformedGatewayRequest"]["body"]["params"].get("arguments", {})
        if name == SEARCH_TOOL_NAME:
            record(Decision(name, sub, "search", True))  # whose token the search came with
            if search_delay_seconds:
                await anyio.sleep(search_delay_seconds)
            found = {"tools": [tool.as_dict() for tool in index.search(str(arguments.get("query", "")))]}
            return [types.TextContent(type="text", text=json.dumps(found))], found
        if name not in by_name:
            raise ValueError(f"Unknown tool: {name}")
        decision = authorize(claims, name, arguments, gateway_arn)
        record(Decision(name, sub, "policy", decision.allowed))
        if not decision.allowed:
            return _refused(f"the gateway's policy does not allow {name} for this caller with these inputs")
        tool = by_name[name]
        context = gateway_context(tool.target, tool.tool)
        invoke = functools.partial(handlers[tool.target].lambda_handler, dict(arguments), context)
        result = await anyio.to_thread.run_sync(invoke)
        record(Decision(name, sub, "target", "error" not in result))
        content = [{"type": "text", "text": json.dumps(result, default=str)}]
        response = {"statusCode": 200, "body": {"jsonrpc": "2.0", "id": 1, "result": {"content": content}}}
        event = {
            "interceptorInputVersion": "1.0",
            "mcp": {"gatewayRequest": {"body": body}, "gatewayResponse": response},
        }
        output = interceptor.lambda_handler(event, None)["mcp"]["transformedGatewayResponse"]
        return types.CallToolResult.model_validate(output["body"]["result"])

    return server


class BearerAuth:
    """ASGI middleware: 401 unless `Authorization: Bearer <token>` is accepted by the authorizer."""

    def __init__(self, app: ASGIApp, authorizer: Authorizer) -> None:
        self.app, self.authorizer = app, authorizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scheme, _, token = dict(scope["headers"]).get(b"authorization", b"").decode().partition(" ")
            claims = None
            if scheme == "Bearer" and token:
                claims = await anyio.to_thread.run_sync(self.authorizer.verify, token)
            if claims is None:
                response = JSONResponse(
                    {"message": "Unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
            scope = {**scope, CLAIMS_SCOPE_KEY: claims}
        await self.app(scope, receive, send)


def build_app(
    *,
    authorizer: Authorizer,
    lambdas_dir: Path,
    gateway_arn: str = LOCAL_GATEWAY_ARN,
    audit: list[Decision] | None = None,
    search_delay_seconds: float = 0.0,
) -> ASGIApp:
    """Starlette app serving MCP streamable HTTP at /mcp, behind the authorizer."""
    server = build_server(
        lambdas_dir, authorizer, gateway_arn, audit, search_delay_seconds=search_delay_seconds
    )
    manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True)

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
    return BearerAuth(app, authorizer)


def gateway_url(sock: socket.socket) -> str:
    """The MCP endpoint URL served on `sock`, e.g. http://127.0.0.1:54321/mcp"""
    return f"http://127.0.0.1:{sock.getsockname()[1]}{MCP_PATH}"


@contextmanager
def running_gateway(
    *,
    bearer_token: str | None = None,
    authorizer: JwtAuthorizer | None = None,
    lambdas_dir: Path = LAMBDAS_DIR,
    audit: list[Decision] | None = None,
    search_delay_seconds: float = 0.0,
    sock: socket.socket | None = None,
) -> Iterator[str]:
    """Yields the MCP endpoint URL, e.g. http://127.0.0.1:54321/mcp (give `authorizer` or `bearer_token`;
    served on `sock` when given)."""
    if (authorizer is None) == (bearer_token is None):
        raise ValueError("give exactly one of authorizer= (real tokens) or bearer_token= (static operator)")
    chosen: Authorizer = authorizer or StaticToken(str(bearer_token))
    app = build_app(
        authorizer=chosen, lambdas_dir=lambdas_dir, audit=audit, search_delay_seconds=search_delay_seconds
    )
    sock = sock or bound_socket()
    with serving(app, sock, name="local gateway", lifespan="on", start_timeout=10):
        yield gateway_url(sock)
