"""Bad requests are refused at the HTTP boundary: session ids, body sizes, and before reading a body at all.

The partial-body tests send the request head (and at most a little of the body), then wait for the answer:
getting one proves the server decided without reading the rest.
"""

from __future__ import annotations

import http.client
import json
import logging

import pytest
from agentcore_agent.http_boundary import InvocationGuard, loggable, session_id_problem
from agentcore_agent.settings import Settings, SettingsError

from local.scripted_model import Text
from tests.agent.conftest import SESSION_HEADER

MAX_BODY = 4096  # the smallest allowed for MAX_PROMPT_CHARS=100 is 12 * 100 + 1024 = 2224
LIMITS = {"MAX_PROMPT_CHARS": "100", "MAX_BODY_BYTES": str(MAX_BODY)}
VALID = "a" * 33


@pytest.fixture
def server(start_server):
    return start_server([Text("answered")], env=LIMITS)


@pytest.fixture
def auth_server(start_server, auth_env):
    return start_server([Text("answered")], env={**auth_env, **LIMITS})


def _head(port: int, headers: dict[str, str]) -> http.client.HTTPConnection:
    """Open a POST /invocations and send only its head."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/invocations", skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    return conn


def _answer(conn: http.client.HTTPConnection) -> tuple[int, dict]:
    response = conn.getresponse()
    try:
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _chunked(port: int, chunks: list[bytes], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """POST a chunked body (no Content-Length); returns status and raw body."""
    conn = _head(
        port, {"Content-Type": "application/json", "Transfer-Encoding": "chunked", **(headers or {})}
    )
    try:
        for chunk in chunks:
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- the session id header ---------------------------------------------------------------------------

BAD_SESSION_IDS = [
    pytest.param("../../", id="path-traversal"),
    pytest.param("a" * 32, id="32-chars"),
    pytest.param("a" * 101, id="101-chars"),
    pytest.param("x" * 10_000, id="10000-chars"),
    pytest.param("-" + "a" * 40, id="leading-dash"),
    pytest.param("a" * 30 + "/../" + "b" * 10, id="slash"),
    pytest.param("a" * 30 + " spaces " + "b" * 10, id="spaces"),
    pytest.param("a" * 40 + "\xe9", id="non-ascii"),
]


@pytest.mark.parametrize("session_id", BAD_SESSION_IDS)
def test_a_bad_session_id_is_a_400_json_error(server, session_id):
    reply = server.post({"prompt": "hi"}, session=session_id)
    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["error"] == "InvalidSessionId"
    assert "33-100 characters" in body["message"] and f"got {len(session_id)} characters" in body["message"]
    assert "\n" not in body["message"] and session_id not in body["message"]
    assert server.model.requests == []


@pytest.mark.parametrize("length", [33, 100])
def test_session_ids_at_the_limits_are_served(server, length):
    session_id = "S" + "a1_-" * 25
    assert server.post({"prompt": "hi"}, session=session_id[:length]).text == "answered"


def test_control_characters_in_the_session_id_never_reach_the_agent(server):
    # uvicorn's HTTP parser refuses them itself; the guard refuses them too (next test) behind laxer parsers.
    conn = _head(server.port, {SESSION_HEADER: "a" * 40 + "\x1b[2J", "Content-Length": "2"})
    conn.send(b"{}")
    assert conn.getresponse().status == 400
    conn.close()
    assert server.model.requests == []


def test_the_guard_refuses_control_characters_itself():
    """Behind an HTTP parser that lets them through, the guard still answers 400 and never calls the SDK."""
    import asyncio

    from agentcore_agent.auth import Authenticator

    from tests.agent.conftest import settings

    called: list[dict] = []

    async def sdk(scope, receive, send):
        called.append(scope)

    guard = InvocationGuard(sdk, authenticator=Authenticator(settings()), max_body_bytes=MAX_BODY)
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    for hostile in ("\x00", "\r\nX-Injected: 1", "\x1b[2J", "\u202e"):
        session = ("a" * 40 + hostile).encode("utf-8")
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/invocations",
            "headers": [(SESSION_HEADER.lower().encode(), session)],
        }
        sent.clear()
        asyncio.run(guard(scope, receive, send))
        assert sent[0]["status"] == 400
        assert json.loads(sent[1]["body"])["error"] == "InvalidSessionId"
    assert called == []
    assert session_id_problem(None) is None and session_id_problem(VALID) is None


def test_a_refused_session_id_is_logged_bounded_and_sanitised(server, caplog):
    hostile = "\u2028" + "A" * 9_999
    with caplog.at_level(logging.WARNING, logger="agentcore_agent"):
        assert server.post({"prompt": "hi"}, session="x" * 10_000).status == 400
    (record,) = [r for r in caplog.records if "session id" in r.getMessage()]
    assert len(record.getMessage()) < 400
    assert "(10000 chars)" in record.getMessage()
    shown = loggable(hostile)
    assert shown.startswith("\\x2028AAA") and shown.endswith("...(10000 chars)") and len(shown) < 100
    assert loggable("evil\nINFO forged line") == "evil\\x0aINFO forged line"


# --- body size ---------------------------------------------------------------------------------------


def test_an_oversized_body_is_refused_from_its_content_length_before_it_is_read(server):
    conn = _head(server.port, {"Content-Type": "application/json", "Content-Length": str(20 * 1024 * 1024)})
    conn.send(b'{"prompt": "')  # a 20 MB body announced, 12 bytes sent: the answer comes anyway
    status, body = _answer(conn)
    assert status == 413
    assert body == {
        "error": "PayloadTooLarge",
        "message": f"the body has 20971520 bytes; the limit is {MAX_BODY}",
    }
    assert server.model.requests == []


def test_an_oversized_chunked_body_is_refused_once_it_passes_the_limit(server):
    status, raw = _chunked(server.port, [b'{"prompt": "', b"x" * 3000, b"x" * 3000, b'"}'])
    assert status == 413
    assert json.loads(raw)["error"] == "PayloadTooLarge"
    assert f"limit of {MAX_BODY} bytes" in json.loads(raw)["message"]
    assert server.model.requests == []


def test_a_chunked_body_within_the_limit_is_answered(server):
    status, raw = _chunked(server.port, [b'{"prompt": ', b'"hello"}'], {SESSION_HEADER: VALID})
    assert status == 200
    assert b'"type": "end"' in raw
    assert server.model.requests[0].messages[-1]["content"][0]["text"] == "hello"


def test_the_longest_valid_prompt_fits_the_smallest_allowed_body_limit(start_server):
    limits = {"MAX_PROMPT_CHARS": "100", "MAX_BODY_BYTES": "2224"}
    server = start_server([Text("answered")], env=limits)
    prompt = "\U0001f600" * 100  # 100 characters; json.dumps spends 12 bytes on each
    body = json.dumps({"prompt": prompt}).encode()
    assert len(body) > 1200
    reply = server.post(None, raw=body)
    assert reply.status == 200 and reply.text == "answered"


def test_body_limit_settings():
    base = {"AWS_REGION": "us-east-1", "MODEL_ID": "m"}
    assert Settings.from_env(base).max_body_bytes == 1_048_576
    assert Settings.from_env({**base, "MAX_PROMPT_CHARS": "200000"}).max_body_bytes == 12 * 200000 + 1024
    with pytest.raises(SettingsError, match="MAX_BODY_BYTES=2000 must be at least 2224"):
        Settings.from_env({**base, "MAX_PROMPT_CHARS": "100", "MAX_BODY_BYTES": "2000"})


# --- authentication comes first --------------------------------------------------------------------------


def test_an_unauthenticated_large_body_is_refused_before_it_is_read(auth_server):
    conn = _head(
        auth_server.port, {"Content-Type": "application/json", "Content-Length": str(20 * 1024 * 1024)}
    )
    status, body = _answer(conn)  # not one byte of the body was sent
    assert status == 401
    assert body["error"] == "Unauthorized" and "missing Authorization" in body["message"]


def test_an_unauthenticated_chunked_body_is_refused_before_it_is_read(auth_server):
    conn = _head(auth_server.port, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    status, body = _answer(conn)
    assert (status, body["error"]) == (401, "Unauthorized")


def test_an_authenticated_oversized_body_is_a_413(auth_server, issuer):
    headers = {"Content-Length": str(MAX_BODY + 1), "Authorization": f"Bearer {issuer.mint()}"}
    status, body = _answer(_head(auth_server.port, headers))
    assert (status, body["error"]) == (413, "PayloadTooLarge")


def test_an_authenticated_bad_session_id_is_a_400(auth_server, issuer):
    reply = auth_server.post({"prompt": "hi"}, session="../../", token=issuer.mint())
    assert reply.status == 400 and reply.json()["error"] == "InvalidSessionId"


def test_other_routes_pass_the_guard_untouched(server):
    assert server.get("/ping").json()["status"] == "Healthy"


def test_the_guard_is_installed_in_front_of_the_sdk_routes():
    from agentcore_agent.app import create_app

    from tests.agent.conftest import settings

    app = create_app(settings())
    assert [m.cls for m in app.user_middleware] == [InvocationGuard]


# --- bodies the parser or the stream cannot carry ---------------------------------------------------


def test_a_deeply_nested_body_is_a_400_not_a_500_with_a_traceback(server, caplog):
    depth = 1500  # past the interpreter's recursion limit, well under MAX_BODY
    body = b'{"prompt": "hi", "x": ' + b"[" * depth + b"]" * depth + b"}"
    assert len(body) < MAX_BODY
    reply = server.post(None, raw=body)
    assert reply.status == 400
    assert json.loads(reply.body) == {
        "error": "InvalidPayload",
        "message": "the body nests arrays or objects too deeply",
    }
    assert [r for r in caplog.records if r.exc_info] == []
    assert server.model.requests == []


def test_a_prompt_with_a_lone_surrogate_is_a_400_and_the_next_turn_is_answered(server):
    reply = server.post(None, raw=b'{"prompt": "hi \\ud800"}', session=VALID)
    assert reply.status == 400
    assert json.loads(reply.body)["error"] == "InvalidPayload"
    assert "lone surrogate" in json.loads(reply.body)["message"]
    assert server.model.requests == []
    again = server.post({"prompt": "hi"}, session=VALID)
    assert again.status == 200 and again.text == "answered"
