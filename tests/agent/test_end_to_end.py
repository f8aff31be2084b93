"""End to end without AWS: the agent server as `__main__` wires it → identity double → local gateway → real
Lambda handlers on moto DynamoDB, its BedrockModel driven by scripted turns at the local ConverseStream
server. Every gateway failure still answers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from agentcore_agent.gateway_tools import TOOLS_UNAVAILABLE_NOTE, TOOLS_UNAVAILABLE_PROMPT

from local.gateway import LexicalIndex, discover_targets
from local.lambda_context import LAMBDAS_DIR
from local.scripted_model import Text, ToolCall
from tests.agent.conftest import SESSION_A, SESSION_B
from tests.agent.gateway_fixtures import (
    ACTOR,
    GATEWAY_TOKEN,
    ORDER_PROMPT,
    OTHER_ACTOR,
    PROVIDER,
    SCOPES,
    WORKLOAD_TOKEN,
    gateway_warnings,
    offered,
    tool_results,
)
from tests.ports import refused_port

pytest_plugins = ["tests.agent.gateway_fixtures"]  # fixtures: tables, identity, gateway_url, start_wired

SEARCH = "x_amz_bedrock_agentcore_search"
SEED = {order["order_id"]: order for order in json.loads((LAMBDAS_DIR / "orders" / "seed.json").read_text())}
STATUS = SEED["ORD-1001"]["status"]


def pick_get_order(specs: list[dict]) -> str:
    """The scripted model's 'choice': the get_order tool among those it was offered (fails if absent)."""
    return next(spec["name"] for spec in specs if spec["name"].endswith("___get_order"))


def expected_search(functions: Path, query: str) -> tuple[list[str], list[str]]:
    """(what the gateway's search returns for `query`, every tool the gateway lists)."""
    _, tools = discover_targets(functions)
    return sorted(t.name for t in LexicalIndex(tools).search(query)), sorted(t.name for t in tools)


def order_turns() -> list:
    return [ToolCall(pick_get_order, {"order_id": "ORD-1001"}), Text(f"Your order ORD-1001 is {STATUS}.")]


def test_order_question_is_answered_with_the_searched_get_order_tool(
    tables, identity, user_gateway_url, gateway_audit, lambdas_dir, start_wired
):
    server = start_wired(order_turns(), gateway_url=user_gateway_url)
    reply = server.ask(ORDER_PROMPT)

    assert reply.status == 200
    # Offered = exactly the search results for the prompt: a strict subset of the gateway's tools.
    found, everything = expected_search(lambdas_dir, ORDER_PROMPT)
    assert offered(server.model) == found
    assert "orders___get_order" in found and "weather___get_forecast" not in found
    assert set(found) < set(everything)
    assert {"type": "tool", "name": "orders___get_order"} in reply.events
    # The real handler read moto DynamoDB; its result reached the model's second call.
    results = tool_results(server.model, 1)
    assert len(results) == 1 and results[0]["status"] == "success"
    order = json.loads(results[0]["content"][0]["text"])["order"]
    assert order["order_id"] == "ORD-1001" and order["status"] == STATUS
    assert reply.text == f"Your order ORD-1001 is {STATUS}."
    assert TOOLS_UNAVAILABLE_NOTE not in reply.text
    assert reply.events[-1]["type"] == "end"
    # The search and the tool call reached the gateway with the user's own verified token; the agent's
    # M2M token was never even fetched (auth is on: every turn has a user).
    assert calls(gateway_audit) == [(SEARCH, ACTOR), ("orders___get_order", ACTOR)]
    assert identity.token_requests == []


def test_without_a_user_the_agent_calls_the_gateway_with_its_m2m_token(
    tables, identity, gateway_url, start_wired
):
    """Auth off (local development): no verified user, so the agent's own token from AgentCore Identity.

    The M2M gateway double accepts only GATEWAY_TOKEN, so a tool result proves which token was sent.
    """
    server = start_wired([*order_turns(), Text("Hello!")], gateway_url=gateway_url, auth=False)
    assert server.ask(ORDER_PROMPT).text == f"Your order ORD-1001 is {STATUS}."
    assert server.ask("hello there").text == "Hello!"
    # Asked for with the configured provider, scopes and flow, using the runtime's workload access token
    # from the request; cached until near expiry.
    (token_call,) = identity.token_requests
    assert token_call.body["resourceCredentialProviderName"] == PROVIDER
    assert token_call.body["scopes"] == SCOPES.split()
    assert token_call.body["oauth2Flow"] == "M2M"
    assert token_call.body["workloadIdentityToken"] == WORKLOAD_TOKEN


def test_each_turn_searches_again_on_the_users_session(
    tables, identity, user_gateway_url, gateway_audit, start_wired
):
    server = start_wired([*order_turns(), Text("Hello!")], gateway_url=user_gateway_url)
    assert server.ask(ORDER_PROMPT).status == 200
    reply = server.ask("hello there")  # shares no word with any tool
    assert reply.text == "Hello!"
    # The previous turn's tools were unloaded; Strands sends Bedrock its placeholder `noop` tool instead,
    # because a request whose history holds tool blocks needs a toolConfig.
    assert offered(server.model, 2) == ["noop"]
    assert [call for call in calls(gateway_audit) if call[0] == SEARCH] == [(SEARCH, ACTOR), (SEARCH, ACTOR)]


def test_two_users_interleaved_each_reach_the_gateway_with_their_own_token(
    tables, identity, user_gateway_url, gateway_audit, user_tokens, start_wired
):
    server = start_wired(order_turns() * 4, gateway_url=user_gateway_url)
    plan = [(ACTOR, SESSION_A), (OTHER_ACTOR, SESSION_A), (ACTOR, SESSION_B), (OTHER_ACTOR, SESSION_A)]
    for actor, session in plan:
        before = len(gateway_audit)
        reply = server.ask(ORDER_PROMPT, session=session, token=user_tokens[actor])
        assert reply.text == f"Your order ORD-1001 is {STATUS}.", actor
        # This turn's search and tool call, and nothing else, came with this user's verified token.
        assert calls(gateway_audit[before:]) == [(SEARCH, actor), ("orders___get_order", actor)]
    assert identity.token_requests == []


def calls(audit: list) -> list[tuple[str, str]]:
    """(tool, sub of the token it came with) per tools/call the gateway received, once per call."""
    return [(d.tool, d.sub) for d in audit if d.stage in ("search", "policy")]


def test_gateway_down_answers_without_tools_and_says_so(identity, start_wired, caplog):
    caplog.set_level(logging.INFO, logger="agentcore_agent")
    server = start_wired([Text("Orders usually arrive within a week.")], gateway_url=_dead_url())
    reply = server.ask(ORDER_PROMPT, session=SESSION_B)
    _assert_degraded(server, reply, caplog, SESSION_B, "connect")


def test_identity_failure_answers_without_tools_and_says_so(identity, gateway_url, start_wired, caplog):
    identity.fail_with("AccessDeniedException", "not authorized to get a token from this provider")
    turns = [Text("Orders usually arrive within a week."), Text("Hi.")]
    server = start_wired(turns, gateway_url=gateway_url, auth=False)  # only then is the M2M token used
    reply = server.ask(ORDER_PROMPT)
    _assert_degraded(server, reply, caplog, SESSION_A, "token")
    assert "AccessDeniedException" in gateway_warnings(caplog)[0].getMessage()
    # Once identity works again, the next turn gets tools without a restart.
    identity.recover()
    assert TOOLS_UNAVAILABLE_NOTE not in server.ask(ORDER_PROMPT).text
    assert "orders___get_order" in offered(server.model, 1)


def test_refused_token_answers_without_tools_and_fetches_a_new_token_next_turn(
    identity, gateway_url, start_wired, caplog
):
    identity.access_token = "a-token-the-gateway-refuses"
    turns = [Text("Orders usually arrive within a week."), Text("Hi.")]
    server = start_wired(turns, gateway_url=gateway_url, auth=False)
    reply = server.ask(ORDER_PROMPT)
    _assert_degraded(server, reply, caplog, SESSION_A, "connect")
    assert "401" in gateway_warnings(caplog)[0].getMessage()
    identity.access_token = GATEWAY_TOKEN
    assert TOOLS_UNAVAILABLE_NOTE not in server.ask(ORDER_PROMPT).text
    assert len(identity.token_requests) == 2  # the refused token was dropped, not reused
    assert "orders___get_order" in offered(server.model, 1)


def test_without_gateway_url_no_gateway_is_used(identity, start_wired):
    server = start_wired([Text("Hi.")], gateway_url=None)
    reply = server.ask(ORDER_PROMPT)
    assert reply.text == "Hi."
    assert offered(server.model) == [] and identity.requests == []


def test_memory_is_keyed_by_the_verified_sub_and_the_runtime_session(identity, start_wired):
    # The identity double also serves as the (failing) memory endpoint: it records the memory calls, and the
    # memory hooks must degrade gracefully when they fail.
    memory_id = "agentmemory-0123456789"
    server = start_wired([Text("Hi.")], gateway_url=None, env={"MEMORY_ID": memory_id})
    assert server.ask("remember me", session=SESSION_A).text == "Hi."
    paths = [r.path for r in identity.requests]
    assert f"/memories/{memory_id}/actor/{ACTOR}/sessions/{SESSION_A}" in paths  # ListEvents on a new agent


def _dead_url() -> str:
    """An MCP URL on a port nobody listens on."""
    return f"http://127.0.0.1:{refused_port()}/mcp"


def _assert_degraded(server, reply, caplog: pytest.LogCaptureFixture, session: str, stage: str) -> None:
    """The answer streamed, starts with the note, the model knew, and one warning names session and stage."""
    assert reply.status == 200
    assert reply.text.startswith(TOOLS_UNAVAILABLE_NOTE)
    assert reply.text.endswith("Orders usually arrive within a week.")
    assert reply.events[-1] == {"type": "end", "stop_reason": "end_turn"}
    assert not any(event.get("type") == "error" for event in reply.events)
    assert offered(server.model) == []
    system = server.model.requests[0].system_prompt
    assert system is not None and TOOLS_UNAVAILABLE_PROMPT in str(system)
    (warning,) = gateway_warnings(caplog)
    assert session in warning.getMessage() and f"({stage} failed)" in warning.getMessage()
    assert warning.session_id == session
    assert warning.exc_info is None  # a one-line warning, no stack trace
