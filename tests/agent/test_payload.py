"""Bad payloads are refused with a clear JSON error (400/413) before the model is called."""

from __future__ import annotations

import logging

import pytest

from local.scripted_model import Text

BAD_PAYLOADS = [
    pytest.param(["prompt"], 400, "JSON object", id="array"),
    pytest.param("just a string", 400, "JSON object", id="string"),
    pytest.param(42, 400, "JSON object", id="number"),
    pytest.param(None, 400, "JSON object", id="null"),
    pytest.param({}, 400, 'no "prompt"', id="missing-prompt"),
    pytest.param({"question": "hi"}, 400, 'no "prompt"', id="wrong-field"),
    pytest.param({"prompt": ""}, 400, "empty", id="empty-prompt"),
    pytest.param({"prompt": "   \n"}, 400, "empty", id="blank-prompt"),
    pytest.param({"prompt": 7}, 400, "must be a string", id="number-prompt"),
    pytest.param({"prompt": ["a"]}, 400, "must be a string", id="array-prompt"),
    pytest.param({"prompt": None}, 400, "must be a string", id="null-prompt"),
    pytest.param({"prompt": "x" * 101}, 413, "limit is 100", id="too-long"),
]


@pytest.fixture
def server(start_server):
    return start_server([Text("should not be reached")], env={"MAX_PROMPT_CHARS": "100"})


@pytest.mark.parametrize(("payload", "status", "fragment"), BAD_PAYLOADS)
def test_bad_payload_is_a_clear_json_error(server, payload, status, fragment):
    reply = server.post(payload)
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["error"] == ("PromptTooLong" if status == 413 else "InvalidPayload")
    assert fragment in body["message"]
    assert "Traceback" not in reply.body.decode()
    assert server.model.requests == []  # refused before the model


@pytest.mark.parametrize("raw", [b"not json", b"", b'{"prompt": "unterminated', b"\xff\xfe"])
def test_non_json_body_is_a_400_json_error(server, raw):
    reply = server.post(None, raw=raw)
    assert reply.status == 400
    assert reply.json()["error"] in {"Invalid JSON", "Invalid encoding"}
    assert server.model.requests == []


def test_prompt_at_the_limit_is_accepted(server):
    assert server.post({"prompt": "x" * 100}).status == 200


def test_unknown_fields_are_ignored(server):
    reply = server.post({"prompt": "hi", "temperature": 2, "extra": {"nested": True}})
    assert reply.status == 200
    assert reply.text == "should not be reached"


def test_payload_actor_id_is_ignored_and_logged(server, caplog):
    with caplog.at_level(logging.WARNING, logger="agentcore_agent"):
        reply = server.post({"prompt": "hi", "actor_id": "someone-else", "user_id": "x"})
    assert reply.status == 200
    assert any("actor_id" in r.getMessage() and "user_id" in r.getMessage() for r in caplog.records)
