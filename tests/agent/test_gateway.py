"""Gateway module contracts: token caching, the real SDK token path, search over real MCP, failure staging."""

from __future__ import annotations

import asyncio
import contextvars
import time

import httpx
import jwt
import pytest
from agentcore_agent.__main__ import main
from agentcore_agent.auth import Caller
from agentcore_agent.gateway_client import SEARCH_TOOL_NAME as SEARCH_TOOL
from agentcore_agent.gateway_client import Gateway, GatewayUnavailableError
from agentcore_agent.gateway_token import TokenCache, m2m_token_fetcher
from agentcore_agent.gateway_tools import TOOLS_UNAVAILABLE_NOTE, TOOLS_UNAVAILABLE_PROMPT, GatewayToolSearch
from bedrock_agentcore.runtime import BedrockAgentCoreContext
from botocore.exceptions import ClientError
from strands import Agent
from strands.types.exceptions import MCPClientInitializationError

from local.gateway import running_gateway
from local.scripted_model import ScriptedModel, Text
from tests.agent.gateway_fixtures import GATEWAY_TOKEN, ORDER_PROMPT, PROVIDER, WORKLOAD_TOKEN
from tests.ports import refused_port

pytest_plugins = ["tests.agent.gateway_fixtures"]


class Clock:
    """A settable clock for expiry tests."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _jwt(exp: float) -> str:
    return jwt.encode({"exp": int(exp), "sub": "agent"}, "k" * 32, algorithm="HS256")


def test_token_cache_keeps_a_jwt_until_shortly_before_exp_then_refetches():
    clock, fetched = Clock(), []

    def fetch() -> str:
        fetched.append(clock.now)
        return _jwt(clock.now + 3600)

    cache = TokenCache(fetch, refresh_margin_seconds=60, clock=clock)
    first = cache.get()
    clock.now += 3600 - 61
    assert cache.get() == first and len(fetched) == 1
    clock.now += 2  # inside the refresh margin
    assert cache.get() != first and len(fetched) == 2


def test_token_cache_uses_the_default_ttl_for_opaque_tokens_and_invalidate_forces_a_fetch():
    clock, calls = Clock(), []
    cache = TokenCache(
        lambda: calls.append(1) or "opaque", default_ttl_seconds=300, refresh_margin_seconds=60, clock=clock
    )
    cache.get()
    clock.now += 239
    cache.get()
    assert len(calls) == 1
    cache.invalidate()
    cache.get()
    assert len(calls) == 2
    clock.now += 241
    cache.get()
    assert len(calls) == 3


def test_token_cache_refuses_an_empty_token():
    with pytest.raises(ValueError, match="empty"):
        TokenCache(lambda: "").get()


def _in_request_context(call, workload: str | None = WORKLOAD_TOKEN):
    """Run `call` the way the runtime does: with the workload token in the SDK's request context."""

    def run():
        if workload:
            BedrockAgentCoreContext.set_workload_access_token(workload)
        return call()

    return contextvars.Context().run(run)


def test_m2m_fetcher_calls_get_resource_oauth2_token_with_the_request_workload_token(identity):
    fetch = m2m_token_fetcher(PROVIDER, ["a/read", "a/write"])
    assert _in_request_context(fetch) == GATEWAY_TOKEN
    (call,) = identity.token_requests
    assert call.body == {
        "resourceCredentialProviderName": PROVIDER,
        "scopes": ["a/read", "a/write"],
        "oauth2Flow": "M2M",
        "workloadIdentityToken": WORKLOAD_TOKEN,
    }
    assert call.headers["authorization"].startswith("AWS4-HMAC-SHA256")  # the real SigV4 client path


def test_m2m_fetcher_surfaces_identity_errors_as_client_errors(identity):
    identity.fail_with("AccessDeniedException", "denied")
    with pytest.raises(ClientError) as raised:
        _in_request_context(m2m_token_fetcher(PROVIDER, []))
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"


def test_identity_double_works_under_mock_aws(identity, tables):
    """moto's mock_aws must not swallow the endpoint-overridden identity calls (see gateway_fixtures)."""
    assert _in_request_context(m2m_token_fetcher(PROVIDER, [])) == GATEWAY_TOKEN


def _search(gateway: Gateway, query: str) -> list[str]:
    return sorted(tool.tool_name for tool in asyncio.run(gateway.search(query)))


def test_search_returns_only_matching_tools_bound_to_the_gateway(gateway_url):
    gateway = Gateway(gateway_url, lambda: GATEWAY_TOKEN, timeout_seconds=2)
    try:
        found = _search(gateway, ORDER_PROMPT)
        assert "orders___get_order" in found and "weather___get_forecast" not in found
        assert "x_amz_bedrock_agentcore_search" not in found
        assert _search(gateway, "hello there") == []
    finally:
        gateway.close()


def test_refused_token_is_a_connect_failure_and_is_dropped(gateway_url):
    gateway = Gateway(gateway_url, lambda: "wrong", timeout_seconds=2)
    try:
        with pytest.raises(GatewayUnavailableError) as raised:
            _search(gateway, ORDER_PROMPT)
        assert raised.value.stage == "connect" and "401" in raised.value.detail
        assert gateway.tokens.peek() is None
    finally:
        gateway.close()


def test_dead_gateway_fails_fast_then_cools_down_without_network_calls():
    calls = []
    gateway = Gateway(
        f"http://127.0.0.1:{refused_port()}/mcp", lambda: calls.append(1) or "t", cool_down_seconds=60
    )
    try:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailableError, match="connect"):
            _search(gateway, ORDER_PROMPT)
        with pytest.raises(GatewayUnavailableError, match="cooling down"):
            _search(gateway, ORDER_PROMPT)
        assert time.monotonic() - started < 3
        assert len(calls) == 1  # the cool-down skipped even the token fetch
    finally:
        gateway.close()


def test_a_session_that_dies_is_replaced_and_a_gone_gateway_is_reported(lambdas_dir):
    fetched = []
    with running_gateway(bearer_token=GATEWAY_TOKEN, lambdas_dir=lambdas_dir) as url:
        gateway = Gateway(url, lambda: fetched.append(1) or GATEWAY_TOKEN, timeout_seconds=2)
        assert "orders___get_order" in _search(gateway, ORDER_PROMPT)
    try:
        with pytest.raises(GatewayUnavailableError):
            _search(gateway, ORDER_PROMPT)
        assert len(fetched) == 2  # the retry dropped the token and fetched a fresh one
    finally:
        gateway.close()


def test_a_failed_turn_streams_the_note_before_the_models_text_and_stores_it(caplog):
    """The note middleware: first streamed text, first block of the stored reply, once per turn."""
    gateway = Gateway(f"http://127.0.0.1:{refused_port()}/mcp", lambda: "t", cool_down_seconds=60)
    model = ScriptedModel([Text("answer", chunks=1), Text("second", chunks=1)])
    agent = Agent(model=model, plugins=[GatewayToolSearch(gateway, session_id="s")], callback_handler=None)

    async def collect(prompt: str) -> list[str]:
        return [event["data"] async for event in agent.stream_async(prompt) if event.get("data")]

    try:
        assert asyncio.run(collect("where is my order?")) == [TOOLS_UNAVAILABLE_NOTE, "answer"]
        assert agent.messages[-1]["content"] == [{"text": TOOLS_UNAVAILABLE_NOTE}, {"text": "answer"}]
        assert TOOLS_UNAVAILABLE_PROMPT in str(model.requests[0].system_prompt)
        # The next failed turn (cooling down) gets its own note, once.
        assert asyncio.run(collect("and now?")) == [TOOLS_UNAVAILABLE_NOTE, "second"]
    finally:
        gateway.close()


def test_gateway_url_without_credential_provider_exits_with_status_2(monkeypatch, capsys):
    monkeypatch.setattr("agentcore_agent.__main__.configure_logging", lambda: None)  # keep caplog working
    monkeypatch.setattr(
        "os.environ",
        {"AWS_REGION": "us-east-1", "MODEL_ID": "m", "GATEWAY_URL": "https://gw.example.com/mcp"},
    )
    assert main() == 2
    assert "GATEWAY_CREDENTIAL_PROVIDER" in capsys.readouterr().err


# -- per-user sessions: each user's calls carry that user's token, on that user's own MCP session ----------


def _caller(issuer, sub: str, **claims) -> Caller:
    token = issuer.mint(sub=sub, client_id="client-a", role="operator", **claims)
    return Caller(actor_id=sub, client_id="client-a", access_token=token)


def _call(tool, arguments: dict) -> dict:
    """Call one gateway tool as the agent does, on the session it is bound to."""
    return asyncio.run(
        tool.mcp_client.call_tool_async(tool_use_id="t", name=tool.tool_name, arguments=arguments)
    )


def _get_order(tools) -> object:
    return next(tool for tool in tools if tool.tool_name == "orders___get_order")


def _subs(audit, since: int = 0) -> list[tuple[str, str]]:
    return [(d.tool, d.sub) for d in audit[since:] if d.stage in ("search", "policy")]


def test_two_users_interleaved_never_share_a_session_and_each_call_carries_its_own_token(
    issuer, tables, user_gateway_url, gateway_audit
):
    alice, bob = _caller(issuer, "sub-alice"), _caller(issuer, "sub-bob")
    gateway = Gateway(user_gateway_url, timeout_seconds=2)
    try:

        async def both():  # the two searches run at the same time
            return await asyncio.gather(
                gateway.search(ORDER_PROMPT, caller=alice), gateway.search(ORDER_PROMPT, caller=bob)
            )

        tools_a, tools_b = asyncio.run(both())
        assert sorted(_subs(gateway_audit)) == [(SEARCH_TOOL, "sub-alice"), (SEARCH_TOOL, "sub-bob")]
        assert _get_order(tools_a).mcp_client is not _get_order(tools_b).mcp_client
        assert sorted(gateway.session_keys()) == ["user:sub-alice", "user:sub-bob"]
        for tools, sub in [
            (tools_a, "sub-alice"),
            (tools_b, "sub-bob"),
            (tools_a, "sub-alice"),
            (tools_b, "sub-bob"),
        ]:
            before = len(gateway_audit)
            assert _call(_get_order(tools), {"order_id": "ORD-1001"})["status"] == "success"
            assert _subs(gateway_audit, before) == [("orders___get_order", sub)]
    finally:
        gateway.close()


def test_a_users_new_token_keeps_their_session_and_is_sent_from_then_on(
    issuer, tables, user_gateway_url, gateway_audit
):
    first = _caller(issuer, "sub-alice")
    refreshed = _caller(issuer, "sub-alice", expires_in=7200)  # a new token for the same user
    assert refreshed.access_token != first.access_token
    gateway = Gateway(user_gateway_url, timeout_seconds=2)
    try:
        (old,) = [
            t
            for t in asyncio.run(gateway.search(ORDER_PROMPT, caller=first))
            if t.tool_name == "orders___get_order"
        ]
        new = _get_order(asyncio.run(gateway.search(ORDER_PROMPT, caller=refreshed)))
        assert new.mcp_client is old.mcp_client and gateway.session_keys() == ["user:sub-alice"]
        # At the wire: the tool call made after the refresh is verified as hers (the old token still would
        # be too; what matters is that the session carries her latest token and nobody else's).
        before = len(gateway_audit)
        assert _call(old, {"order_id": "ORD-1001"})["status"] == "success"
        assert _subs(gateway_audit, before) == [("orders___get_order", "sub-alice")]
        request = next(gateway._sessions["user:sub-alice"].auth_flow(httpx.Request("POST", user_gateway_url)))
        assert request.headers["authorization"] == f"Bearer {refreshed.access_token}"
    finally:
        gateway.close()


def test_the_least_recently_used_session_is_closed_beyond_the_bound(
    issuer, tables, user_gateway_url, gateway_audit
):
    alice, bob = _caller(issuer, "sub-alice"), _caller(issuer, "sub-bob")
    gateway = Gateway(user_gateway_url, timeout_seconds=2, max_sessions=1)
    try:
        alices = _get_order(asyncio.run(gateway.search(ORDER_PROMPT, caller=alice)))
        asyncio.run(gateway.search(ORDER_PROMPT, caller=bob))
        assert gateway.session_keys() == ["user:sub-bob"]
        before = len(gateway_audit)
        with pytest.raises(MCPClientInitializationError):  # her session is closed: no call leaves it
            _call(alices, {"order_id": "ORD-1001"})
        assert gateway_audit[before:] == []
        # Her next turn opens a new session with her token.
        assert (
            _get_order(asyncio.run(gateway.search(ORDER_PROMPT, caller=alice))).mcp_client
            is not alices.mcp_client
        )
        assert gateway.session_keys() == ["user:sub-alice"]
    finally:
        gateway.close()
