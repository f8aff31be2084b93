"""The chat page's server as `scripts/chat.py` runs it for a deployed stage, over HTTP: Cognito sign-in with
MFA, the token kept server-side, each turn relayed and annotated, and every request from elsewhere refused.

Doubles (the cloud cannot exist here), each a real local HTTP server speaking the real wire format:
`CognitoDouble` answers Cognito's JSON protocol (`X-Amz-Target: AWSCognitoIdentityProviderService.*`) with a
SOFTWARE_TOKEN_MFA challenge; `RuntimeDouble` answers `POST /invocations` with the agent's SSE events.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from local.http_server import JsonHandler, LocalServer
from scripts import chat, invoke
from webui.chat_target import ChatTarget
from webui.pricing import Prices
from webui.server import CONTENT_SECURITY_POLICY, ChatServer
from webui.transcripts import Transcripts

TOKEN = "eyJ.access-token-of-carol.sig"
CODE = "123456"
REFUSAL = json.dumps({"error": {"code": "PERMISSION_DENIED", "message": "not your order"}})
EVENTS = [
    {"type": "tool", "name": "orders___get_order"},
    {
        "type": "tool_result",
        "id": "t1",
        "name": "orders___get_order",
        "input": {"order_id": "ORD-1001"},
        "status": "error",
        "content": REFUSAL,
    },
    {"type": "text", "text": "I cannot show that order."},
    {"type": "usage", "inputTokens": 1000, "outputTokens": 200, "totalTokens": 1200},
    {"type": "end", "stop_reason": "end_turn"},
]


class CognitoDouble(LocalServer):
    """InitiateAuth → an MFA challenge; RespondToAuthChallenge with CODE → TOKEN. Keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        double = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                action = self.headers["X-Amz-Target"].rsplit(".", 1)[1]
                body = json.loads(self.read_body())
                double.calls.append((action, body))
                if action == "InitiateAuth" and body["AuthParameters"]["PASSWORD"] == "right":
                    self.send_json(
                        200,
                        {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "session-of-the-mfa-challenge"},
                    )
                elif (
                    action == "RespondToAuthChallenge"
                    and body["ChallengeResponses"].get("SOFTWARE_TOKEN_MFA_CODE") == CODE
                ):
                    self.send_json(200, {"AuthenticationResult": {"AccessToken": TOKEN}})
                else:
                    message = {
                        "__type": "NotAuthorizedException",
                        "message": "Incorrect username or password.",
                    }
                    self.send_json(400, message)

        super().__init__(Handler, name="cognito-double")


class RuntimeDouble(LocalServer):
    """`POST /invocations`: EVENTS as SSE for TOKEN, 401 for any other token or once the token has expired
    (`expired`). With `gate`, the first event is sent at once and the rest once the gate is set. Keeps each
    request's headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.expired = False
        self.gate: threading.Event | None = None
        double = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                self.read_body()
                double.requests.append(self.lowered_headers())
                if double.expired or self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_json(401, {"message": "Token has expired"})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for index, event in enumerate(EVENTS):
                    if index == 1 and double.gate is not None:
                        double.gate.wait(timeout=60)
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()

        super().__init__(Handler, name="runtime-double")


@pytest.fixture
def served() -> Iterator[tuple[ChatServer, CognitoDouble, RuntimeDouble]]:
    with CognitoDouble() as cognito, RuntimeDouble() as runtime:
        target = invoke.Target(
            url=f"{runtime.url}/invocations",
            region="eu-west-1",
            client_id="user-client",
            cognito_endpoint=cognito.url,
        )
        chat_target = ChatTarget(name="dev", target=target, model="Bedrock: m", prices=Prices(0.003, 0.015))
        with ChatServer(chat_target, Transcripts(None)) as server:
            yield server, cognito, runtime


class Browser:
    """Requests as the page's own script sends them (its Origin, its cookie), or altered per call."""

    def __init__(self, url: str) -> None:
        self.url, self.cookie = url, ""
        self.netloc = urlsplit(url).netloc

    def request(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.netloc, timeout=30)
        sent = {"Host": self.netloc, "Origin": self.url, "Sec-Fetch-Site": "same-origin"}
        if self.cookie:
            sent["Cookie"] = self.cookie
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent.update({name.replace("_", "-"): value for name, value in headers.items()})
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        connection.request(method, path, body=raw, headers={k: v for k, v in sent.items() if v})
        response = connection.getresponse()
        data = response.read()
        received = {name.lower(): value for name, value in response.getheaders()}
        connection.close()
        if "set-cookie" in received:
            self.cookie = received["set-cookie"].split(";", 1)[0]
        return response.status, received, data


def signed_in(server: ChatServer) -> Browser:
    browser = Browser(server.url)
    status, _, _ = browser.request(
        "POST", "/api/sign-in", {"username": "carol", "password": "right", "code": CODE}
    )
    assert status == 200
    return browser


def test_sign_in_asks_for_the_mfa_code_then_keeps_the_token_on_the_server(served):
    server, cognito, _ = served
    browser = Browser(server.url)
    status, _, body = browser.request("POST", "/api/sign-in", {"username": "carol", "password": "right"})
    assert status == 401
    assert json.loads(body) == {
        "message": "this account has MFA: enter the code from your authenticator app",
        "code_needed": True,
    }
    status, headers, body = browser.request(
        "POST", "/api/sign-in", {"username": "carol", "password": "right", "code": CODE}
    )
    assert status == 200 and json.loads(body)["user"] == "carol"
    assert [action for action, _ in cognito.calls] == [
        "InitiateAuth",
        "InitiateAuth",
        "RespondToAuthChallenge",
    ]
    assert cognito.calls[-1][1]["ChallengeResponses"] == {
        "USERNAME": "carol",
        "SOFTWARE_TOKEN_MFA_CODE": CODE,
    }
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert TOKEN.encode() not in body
    status, _, body = browser.request("GET", "/api/config")
    assert json.loads(body)["user"] == "carol" and TOKEN.encode() not in body


def test_a_wrong_password_is_one_line_and_signs_nobody_in(served):
    server, _, _ = served
    browser = Browser(server.url)
    status, _, body = browser.request("POST", "/api/sign-in", {"username": "carol", "password": "wrong"})
    assert status == 401
    assert (
        json.loads(body)["message"] == "login failed: NotAuthorizedException: Incorrect username or password."
    )
    assert json.loads(browser.request("GET", "/api/config")[2])["user"] is None


def test_a_turn_is_relayed_with_the_users_token_the_refusal_marked_and_its_cost_estimated(served):
    server, _, runtime = served
    browser = signed_in(server)
    status, headers, body = browser.request("POST", "/api/turns", {"prompt": "Where is ORD-1001?"})
    assert status == 200 and headers["content-type"] == "application/x-ndjson"
    events = [json.loads(line) for line in body.splitlines()]
    assert events[0]["type"] == "session" and events[0]["turn"] == 0
    assert events[0]["id"].startswith("dev-") and len(events[0]["id"]) >= invoke.MIN_SESSION_ID
    assert runtime.requests[-1]["authorization"] == f"Bearer {TOKEN}"
    assert runtime.requests[-1][invoke.SESSION_HEADER.lower()] == events[0]["id"]
    result = next(event for event in events if event["type"] == "tool_result")
    assert result["refusal"] == "PERMISSION_DENIED" and "failure" not in result
    usage = next(event for event in events if event["type"] == "usage")
    assert usage["estimated_usd"] == pytest.approx((1000 * 0.003 + 200 * 0.015) / 1000)
    assert TOKEN.encode() not in body
    _, _, listed = browser.request("GET", "/api/sessions")
    (session,) = json.loads(listed)["sessions"]
    assert session["id"] == events[0]["id"] and session["title"] == "Where is ORD-1001?"
    _, _, kept = browser.request("GET", f"/api/sessions/{session['id']}")
    (turn,) = json.loads(kept)["turns"]
    assert turn["done"] and [e["type"] for e in turn["events"]] == [e["type"] for e in events[1:]]


def test_each_event_reaches_the_page_as_the_agent_sends_it(served):
    """The answer streams: the first event is on the page while the agent has not sent the rest yet."""
    server, _, runtime = served
    browser = signed_in(server)
    runtime.gate = threading.Event()
    connection = http.client.HTTPConnection(browser.netloc, timeout=30)
    body = json.dumps({"prompt": "hello"}).encode()
    headers = {"Origin": browser.url, "Cookie": browser.cookie, "Content-Type": "application/json"}
    connection.request("POST", "/api/turns", body=body, headers=headers)
    response = connection.getresponse()
    assert json.loads(response.readline())["type"] == "session"
    assert json.loads(response.readline()) == EVENTS[0]  # relayed before the agent sent anything more
    runtime.gate.set()
    rest = [json.loads(line) for line in response.read().splitlines()]
    connection.close()
    assert [event["type"] for event in rest] == [event["type"] for event in EVENTS[1:]]


def test_a_token_the_runtime_refuses_signs_the_user_out(served):
    server, _, runtime = served
    browser = signed_in(server)
    runtime.expired = True
    _, _, body = browser.request("POST", "/api/turns", {"prompt": "hello"})
    error = json.loads(body.splitlines()[-1])
    assert error["type"] == "error" and error["signed_out"] is True
    assert "access denied (HTTP 401" in error["message"]
    assert json.loads(browser.request("GET", "/api/config")[2])["user"] is None


@pytest.mark.parametrize(
    ("method", "path", "headers", "why"),
    [
        ("POST", "/api/turns", {"Origin": "http://evil.example"}, "cross-origin requests are refused"),
        ("POST", "/api/turns", {"Origin": ""}, "cross-origin requests are refused"),
        ("POST", "/api/sign-out", {"Sec_Fetch_Site": "cross-site"}, "cross-site requests are refused"),
        ("GET", "/api/sessions", {"Sec_Fetch_Site": "same-site"}, "cross-site requests are refused"),
        ("GET", "/api/sessions", {"Host": "evil.example"}, "this page is served at"),  # DNS rebinding
        ("GET", "/", {"Host": "localhost"}, "this page is served at"),
    ],
)
def test_requests_from_elsewhere_are_refused_before_anything_is_done(served, method, path, headers, why):
    server, _, runtime = served
    browser = signed_in(server)
    status, _, body = browser.request(method, path, {"prompt": "hi"} if method == "POST" else None, **headers)
    assert status == 403 and why in json.loads(body)["message"]
    assert runtime.requests == []  # no turn reached the agent
    assert json.loads(browser.request("GET", "/api/config")[2])["user"] == "carol"  # nobody signed out


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "the request is not JSON"),
        (b"[]", 400, "the request is not a JSON object"),
        ({"prompt": "  "}, 400, "the prompt is empty"),
        ({"prompt": 7}, 400, "the prompt is empty"),
        ({"prompt": "hi", "session_id": "short"}, 400, "the session id must be 33-100 characters"),
        ({"prompt": "hi", "session_id": "../" * 20}, 400, "the session id must be 33-100 characters"),
        ({"prompt": "x" * 300_000}, 413, "the request is too large"),
    ],
)
def test_bad_turn_requests_are_one_line_answers(served, body, status, message):
    server, _, runtime = served
    got, _, answer = signed_in(server).request("POST", "/api/turns", body)
    assert got == status and json.loads(answer)["message"].startswith(message)
    assert runtime.requests == []


def test_nothing_but_sign_in_and_config_answers_without_a_session(served):
    server, _, _ = served
    browser = Browser(server.url)
    for method, path in [("GET", "/api/sessions"), ("POST", "/api/turns"), ("GET", "/api/sessions/x")]:
        status, _, body = browser.request(method, path, {"prompt": "hi"} if method == "POST" else None)
        assert (status, json.loads(body)["message"]) == (401, "sign in first")


def test_every_answer_carries_the_content_security_policy_and_only_page_files_are_served(served):
    server, _, _ = served
    browser = Browser(server.url)
    status, headers, page = browser.request("GET", "/")
    assert status == 200 and headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert b"<script>" not in page and b" on" not in page.split(b"<body>")[1].replace(b" one", b"")
    assert headers["x-content-type-options"] == "nosniff"
    for path in ["/static/app.js", "/static/style.css", "/static/favicon.svg"]:
        status, headers, _ = browser.request("GET", path)
        assert status == 200 and headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
    for path in ["/static/../server.py", "/static/%2e%2e/server.py", "/server.py", "/static/app.js.map"]:
        assert browser.request("GET", path)[0] == 404, path


def test_the_server_listens_on_127_0_0_1_only(served):
    server, _, _ = served
    assert urlsplit(server.url).hostname == "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("192.0.2.1", 9))  # picks this machine's outward address; sends nothing
        address = udp.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("this machine has no address but loopback")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, urlsplit(server.url).port), timeout=5).close()


def cloudformation_with(*stacks: tuple[str, dict[str, str]]) -> tuple[Any, Any]:
    """A CloudFormation client whose DescribeStacks answers each (name, outputs) in turn (botocore's Stubber:
    the real response shapes)."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("cloudformation", region_name="eu-west-1")
    stubber = Stubber(client)
    for name, outputs in stacks:
        items = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
        stack = {"StackName": name, "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
        stubber.add_response(
            "describe_stacks", {"Stacks": [{**stack, "Outputs": items}]}, {"StackName": name}
        )
    return client, stubber


RUNTIME_ARN = "arn:aws:bedrock-agentcore:eu-west-1:111122223333:runtime/agent-abc"


def test_chat_finds_a_deployed_stage_from_its_stacks_and_serves_until_stopped(monkeypatch):
    cloudformation, stubber = cloudformation_with(
        ("dev-Runtime", {"RuntimeArn": RUNTIME_ARN}),
        ("dev-Identity", {"UserClientId": "client-1", "Region": "eu-west-1"}),
    )
    args = chat.parse_args(["--stage", "dev", "--region", "eu-west-1", "--port", "0"])
    with stubber:
        target = chat.deployed_chat(args, lambda region: cloudformation)
    stubber.assert_no_pending_responses()
    assert target.target.url.startswith(
        "https://bedrock-agentcore.eu-west-1.amazonaws.com/runtimes/arn%3Aaws"
    )
    assert target.target.client_id == "client-1" and target.traces is None and target.users == ()
    assert target.model.startswith("Bedrock: ")

    monkeypatch.setattr(chat, "deployed_chat", lambda args, factory: target)
    out, err, stop = io.StringIO(), io.StringIO(), threading.Event()
    stop.set()
    assert chat.main(["--port", "0"], out=out, err=err, stop=stop) == 0
    assert out.getvalue().startswith("chat page for stage dev at http://127.0.0.1:") and err.getvalue() == ""


def test_chat_says_in_one_line_when_its_port_is_taken_or_the_stage_is_missing(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(chat, "deployed_chat", lambda args, factory: None)
        err = io.StringIO()
        assert chat.main(["--port", str(port)], out=io.StringIO(), err=err) == 2
        assert (
            err.getvalue() == f"error: port {port} is in use; choose another with --port (0: any free port)\n"
        )

    def missing(args, factory):
        raise invoke.Failure("cannot read stack dev-Runtime: Stack with id dev-Runtime does not exist", 2)

    monkeypatch.setattr(chat, "deployed_chat", missing)
    err = io.StringIO()
    assert chat.main([], out=io.StringIO(), err=err) == 2
    assert (
        err.getvalue() == "error: cannot read stack dev-Runtime: Stack with id dev-Runtime does not exist\n"
    )


def test_chat_talks_to_the_endpoint_it_is_given():
    runtime = {
        "RuntimeArn": RUNTIME_ARN,
        "RuntimeEndpointName": "live",
        "CanaryEndpointName": "canary",
        "CanaryPercent": "10",
    }
    cloudformation, stubber = cloudformation_with(("prod-Runtime", runtime), ("prod-Runtime", runtime))
    common = ["--stage", "prod", "--region", "eu-west-1", "--client-id", "c"]
    with stubber:
        canary = chat.deployed_chat(
            chat.parse_args([*common, "--endpoint", "canary"]), lambda r: cloudformation
        )
        default = chat.deployed_chat(chat.parse_args(common), lambda r: cloudformation)
    assert canary.target.url.endswith("/invocations?qualifier=canary")
    assert default.target.url.endswith("/invocations?qualifier=live")
