"""What the page keeps of each turn: per user and session, in order, across a restart of the local stage."""

from __future__ import annotations

from webui.events import annotated
from webui.pricing import Prices, stage_prices, stage_settings
from webui.transcripts import Transcripts


def test_turns_are_kept_per_user_and_session_and_survive_a_restart(tmp_path):
    path = tmp_path / "chat.sqlite3"
    kept = Transcripts(path)
    first, _ = kept.begin("alice", "s-1", "Where is ORD-1001?")
    kept.finish("alice", "s-1", first, [{"type": "text", "text": "delivered"}])
    second, _ = kept.begin("alice", "s-1", "and then?")  # still streaming when the stage stops
    kept.begin("bob", "s-2", "hello")
    kept.close()

    reopened = Transcripts(path)
    assert (first, second) == (0, 1)
    (session,) = reopened.sessions("alice")
    assert (session["id"], session["title"], session["turns"]) == ("s-1", "Where is ORD-1001?", 2)
    turns = reopened.turns("alice", "s-1")
    assert [(t["prompt"], t["events"], t["ended_ns"] is None) for t in turns] == [
        ("Where is ORD-1001?", [{"type": "text", "text": "delivered"}], False),
        ("and then?", [], True),
    ]
    assert reopened.turns("bob", "s-1") == []  # another user's session is not theirs
    assert [s["id"] for s in reopened.sessions("bob")] == ["s-2"]
    reopened.close()


def test_sessions_are_listed_latest_first():
    kept = Transcripts(None)
    for session in ("old", "new"):
        kept.begin("alice", session, f"{session} prompt")
    kept.begin("alice", "old", "back to the old one")
    assert [s["id"] for s in kept.sessions("alice")] == ["old", "new"]


def test_a_refusal_is_told_apart_from_a_failure_and_usage_gets_its_cost():
    prices = Prices(input_usd_per_1k=0.003, output_usd_per_1k=0.015)
    refused = {
        "type": "tool_result",
        "status": "error",
        "content": '{"error": {"code": "PERMISSION_DENIED"}}',
    }
    failed = {"type": "tool_result", "status": "error", "content": '{"error": {"code": "INTERNAL"}}'}
    broken = {"type": "tool_result", "status": "error", "content": "Traceback ..."}
    fine = {"type": "tool_result", "status": "success", "content": '{"order": {}}'}
    assert annotated(refused, prices)["refusal"] == "PERMISSION_DENIED"
    assert annotated(failed, prices)["failure"] == "INTERNAL"
    assert annotated(broken, prices)["failure"] == "ERROR"
    assert annotated(fine, prices) == fine
    usage = annotated({"type": "usage", "inputTokens": 2000, "outputTokens": 100}, prices)
    assert usage["estimated_usd"] == (2000 * 0.003 + 100 * 0.015) / 1000
    assert annotated("a bare string from another agent", prices) == "a bare string from another agent"


def test_prices_come_from_the_stages_settings_in_cdk_json(tmp_path):
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        '{"context": {"agentcore:defaults": {"input_token_usd_per_1k": 0.001},'
        ' "agentcore:stages": {"dev": {"output_token_usd_per_1k": 0.002}}}}'
    )
    assert stage_prices(stage_settings("dev", cdk_json)) == Prices(0.001, 0.002)
    cdk_json.write_text("not json")
    assert stage_settings("dev", cdk_json) == {}  # the page then shows the settings' defaults
