"""Each turn writes one EMF line with its model usage: metrics by service and kind of caller, the user only as
a field (for the Contributor Insights rule), never as a dimension."""

from __future__ import annotations

import json

from strands import tool

from local.scripted_model import Text, ToolCall


def _emf_lines(out: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "turn_usage"]


def test_a_turn_writes_its_usage_as_emf_with_low_cardinality_dimensions(
    start_server, auth_env, issuer, capsys
):
    @tool
    def lookup(order_id: str) -> str:
        """Look an order up."""
        return "shipped"

    server = start_server(
        [ToolCall("lookup", {"order_id": "ORD-1"}), Text("It shipped.")], env=auth_env, tools=[lookup]
    )
    capsys.readouterr()
    reply = server.post({"prompt": "where is ORD-1?"}, token=issuer.mint(sub="alice-sub", role="customer"))
    assert reply.events[-1]["type"] == "end"
    (line,) = _emf_lines(capsys.readouterr().out)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "AgentCoreCDK"
    assert directive["Dimensions"] == [["ServiceName", "CallerKind"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"InputTokens", "OutputTokens", "TotalTokens"}
    # Two model calls (the tool call, then the answer), 11 + 7 tokens each, as the double reports them.
    assert (line["InputTokens"], line["OutputTokens"], line["TotalTokens"]) == (22, 14, 36)
    assert line["CallerKind"] == "user" and line["actor_id"] == "alice-sub" and line["total_tokens"] == 36
    assert "actor_id" not in directive["Dimensions"][0]


def test_a_refused_call_writes_no_usage(start_server, auth_env, capsys):
    server = start_server([Text("never")], env=auth_env)
    capsys.readouterr()
    assert server.post({"prompt": "hi"}).status == 401
    assert _emf_lines(capsys.readouterr().out) == []
