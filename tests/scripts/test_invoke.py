"""scripts/invoke.py against a local stand-in for the runtime URL, logging in to moto's Cognito."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from moto import mock_aws

from local import stage_lock
from local.http_server import JsonHandler, LocalServer
from scripts.endpoint_choice import bucket
from tests.doubles.cloudformation import stubbed_cloudformation

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
USER, PASSWORD = "alice@example.com", "Correct-Horse-9!"
RUNTIME_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/dev_agent-AbCdEf1234"


def _load_invoke() -> Any:
    spec = importlib.util.spec_from_file_location("invoke_script", ROOT / "scripts" / "invoke.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


invoke = _load_invoke()


class RuntimeStandIn:
    """Stands in for the AgentCore data plane: without a bearer token it refuses, as its authorizer does."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.calls: list[dict[str, Any]] = []
        self.server = LocalServer(self._handler(), poll_interval=0.02).start()

    @property
    def url(self) -> str:
        quoted = invoke.urllib.parse.quote(RUNTIME_ARN, safe="")
        return f"{self.server.url}/runtimes/{quoted}/invocations?qualifier=DEFAULT"

    def _handler(self) -> type[JsonHandler]:
        stand_in = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.read_body()
                headers = self.lowered_headers()  # names are case-insensitive
                stand_in.calls.append({"path": self.path, "headers": headers, "body": json.loads(body)})
                if not self.headers.get("Authorization", "").startswith("Bearer "):
                    refusal = json.dumps({"message": "Authorization method mismatch"}).encode()
                    error_type = "AccessDeniedException:http://internal.amazon.com/"
                    self.send_bytes(
                        403, refusal, {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"}
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in stand_in.events:
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(0.01)
                self.close_connection = True

        return Handler


ANSWER = [
    {"type": "text", "text": "Hello, "},
    {"type": "tool", "name": "lookup"},
    {"type": "text", "text": "Alice."},
    {"type": "end", "stop_reason": "end_turn"},
]


@pytest.fixture
def runtime() -> Iterator[RuntimeStandIn]:
    stand_in = RuntimeStandIn(ANSWER)
    yield stand_in
    stand_in.server.stop()


@pytest.fixture
def cognito(monkeypatch) -> Iterator[str]:
    """A moto user pool with a public client allowing USER_PASSWORD_AUTH and one confirmed user."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        idp = boto3.client("cognito-idp", region_name=REGION)
        pool = idp.create_user_pool(PoolName="dev-users")["UserPool"]["Id"]
        client = idp.create_user_pool_client(
            UserPoolId=pool, ClientName="user", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
        idp.admin_create_user(UserPoolId=pool, Username=USER, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username=USER, Password=PASSWORD, Permanent=True)
        yield client


def run(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = {"AGENT_USERNAME": USER, "AGENT_PASSWORD": PASSWORD} if environ is None else environ
    code = invoke.main(list(argv), out=out, err=err, environ=env)
    return code, out.getvalue(), err.getvalue()


def test_with_a_token_the_streamed_answer_is_printed(runtime, cognito):
    code, out, err = run("--url", runtime.url, "--client-id", cognito, "--region", REGION, "Who am I?")
    assert code == 0, err
    assert out == "Hello, Alice.\n"
    assert "[using tool lookup]" in err
    call = runtime.calls[0]
    assert call["body"] == {"prompt": "Who am I?"}
    assert call["headers"]["content-type"] == "application/json"
    session = call["headers"]["x-amzn-bedrock-agentcore-runtime-session-id"]
    assert len(session) >= 33 and session in err
    token = call["headers"]["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["client_id"] == cognito and claims["token_use"] == "access"


def test_without_a_token_access_is_denied_with_a_clear_message(runtime):
    code, out, err = run("--url", runtime.url, "--no-auth", "hi")
    assert code == 4
    assert out == ""
    assert (
        "access denied" in err and "AccessDeniedException" in err and "Authorization method mismatch" in err
    )
    assert "Traceback" not in err
    assert "authorization" not in runtime.calls[0]["headers"]


def test_wrong_password_is_a_login_failure(runtime, cognito):
    environ = {"AGENT_USERNAME": USER, "AGENT_PASSWORD": "wrong-password-1A!"}
    code, _, err = run("--url", runtime.url, "--client-id", cognito, "hi", environ=environ)
    assert code == 3
    assert err.startswith("error: login failed: NotAuthorizedException")
    assert runtime.calls == []


def test_given_session_id_is_sent(runtime, cognito):
    session = "my-conversation-0123456789-0123456789"
    code, _, err = run("--url", runtime.url, "--client-id", cognito, "--session-id", session, "again")
    assert code == 0, err
    assert runtime.calls[0]["headers"]["x-amzn-bedrock-agentcore-runtime-session-id"] == session


def test_agent_error_event_is_shown_and_exit_is_non_zero(runtime):
    runtime.events = [
        {"type": "text", "text": "Par"},
        {"type": "error", "error": "ModelThrottled", "message": "busy"},
    ]
    code, out, err = _run_with_fake_login(runtime)
    assert code == 1
    assert out.startswith("Par")
    assert "agent error (ModelThrottled): busy" in err


def _run_with_fake_login(runtime: RuntimeStandIn) -> tuple[int, str, str]:
    """Skip Cognito: this test is about rendering the stream, not logging in."""
    original = invoke.login
    invoke.login = lambda *args, **kwargs: "header.payload.signature"
    try:
        return run("--url", runtime.url, "--client-id", "c", "--region", REGION, "hi")
    finally:
        invoke.login = original


def test_network_error_is_one_line():
    code, _, err = run("--url", "http://127.0.0.1:9/runtimes/x/invocations", "--no-auth", "hi")
    assert code == 5
    assert "error: cannot reach 127.0.0.1:9" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [["--session-id", "too-short", "hi"], ["   "], [], ["--timeout", "0", "hi"]],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        invoke.main(argv, environ={})
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_stack_outputs_give_the_url_and_client():
    """With no overrides the script reads <stage>-Runtime and <stage>-Identity outputs from CloudFormation."""
    client = stubbed_cloudformation(
        {
            "dev-Runtime": {"RuntimeArn": RUNTIME_ARN, "RuntimeEndpointName": "live", "Region": REGION},
            "dev-Identity": {"UserPoolId": "pool", "UserClientId": "client-1", "Region": REGION},
        }
    )
    target = invoke.resolve_target(invoke.parse_args(["--stage", "dev", "hi"]), lambda region: client)
    quoted = "arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fdev_agent-AbCdEf1234"
    assert (
        target.url
        == f"https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/{quoted}/invocations?qualifier=live"
    )
    assert (target.client_id, target.region) == ("client-1", REGION)


def test_invocation_url_output_wins_and_no_auth_skips_the_identity_stack():
    client = stubbed_cloudformation(
        {"prod-Runtime": {"InvocationUrl": "https://example.com/inv", "Region": "eu-west-1"}}
    )
    target = invoke.resolve_target(
        invoke.parse_args(["--stage", "prod", "--no-auth", "hi"]), lambda region: client
    )
    assert (target.url, target.region, target.client_id) == ("https://example.com/inv", "eu-west-1", None)


def test_missing_stack_is_a_clear_configuration_error(monkeypatch):
    client = stubbed_cloudformation({"nosuch-Runtime": None})
    monkeypatch.setattr(invoke, "resolve_target", _bind(invoke.resolve_target, client))
    code, _, err = run("--stage", "nosuch", "hi")
    assert code == 2
    assert err.strip().endswith(
        "cannot read stack nosuch-Runtime: ValidationError: Stack with id nosuch-Runtime does not exist"
    )


def _bind(resolve: Any, client: Any) -> Any:
    return lambda args, _factory: resolve(args, lambda region: client)


class FakeCognito:
    """Records the MFA round trip (moto cannot issue TOTP challenges for USER_PASSWORD_AUTH reliably)."""

    def __init__(self) -> None:
        self.answered: dict[str, Any] = {}

    def initiate_auth(self, **kwargs: Any) -> dict[str, Any]:
        return {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "sess-1"}

    def respond_to_auth_challenge(self, **kwargs: Any) -> dict[str, Any]:
        self.answered = kwargs
        return {"AuthenticationResult": {"AccessToken": "access-token"}}


def test_software_token_mfa_challenge_prompts_for_the_code():
    fake = FakeCognito()
    token = invoke.login(fake, "client", USER, PASSWORD, lambda prompt: " 123456 ")
    assert token == "access-token"
    assert fake.answered["ChallengeResponses"] == {"USERNAME": USER, "SOFTWARE_TOKEN_MFA_CODE": "123456"}
    assert fake.answered["Session"] == "sess-1"


def test_with_no_region_configured_the_stage_region_from_cdk_json_is_used(monkeypatch):
    """As the README runs it, with no AWS region set: no NoRegionError, the stage's own region."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    asked = []
    client = stubbed_cloudformation(
        {"dev-Runtime": {"InvocationUrl": "https://example.com/inv"}, "dev-Identity": {"UserClientId": "c"}}
    )
    target = invoke.resolve_target(
        invoke.parse_args(["--stage", "dev", "hi"]), lambda region: asked.append(region) or client
    )
    assert asked and set(asked) == {"us-east-1"}  # cdk.json: agentcore:defaults.region
    assert target.region == "us-east-1"


def test_stage_region_prefers_the_stage_then_the_defaults(tmp_path):
    cdk_json = tmp_path / "cdk.json"
    context = {
        "agentcore:defaults": {"region": "us-east-1"},
        "agentcore:stages": {"eu": {"region": "eu-west-1"}},
    }
    cdk_json.write_text(json.dumps({"context": context}))
    assert invoke.stage_region("eu", cdk_json) == "eu-west-1"
    assert invoke.stage_region("dev", cdk_json) == "us-east-1"
    cdk_json.write_text("{not json")
    assert invoke.stage_region("eu", cdk_json) is None


@pytest.mark.parametrize("error", ["NoRegionError", "NoCredentialsError", "EndpointConnectionError"])
def test_an_aws_error_is_one_line_with_its_own_exit_code(monkeypatch, error):
    from botocore import exceptions

    def fail(args, factory):
        kwargs = {"endpoint_url": "https://cloudformation.us-east-1.amazonaws.com"}
        raise getattr(exceptions, error)(**(kwargs if error == "EndpointConnectionError" else {}))

    monkeypatch.setattr(invoke, "resolve_target", fail)
    code, out, err = run("--stage", "dev", "hi")
    assert code == invoke.AWS_ERROR == 6
    assert err.startswith("error: AWS: ") and err.count("\n") == 1
    assert "Traceback" not in err and out == ""


def test_a_dash_reads_the_prompt_from_standard_input(runtime, cognito):
    out, err = io.StringIO(), io.StringIO()
    argv = ["--url", runtime.url, "--client-id", cognito, "--region", REGION, "-"]
    environ = {"AGENT_USERNAME": USER, "AGENT_PASSWORD": PASSWORD}
    code = invoke.main(argv, out=out, err=err, environ=environ, stdin=io.StringIO("Who am I?\n"))
    assert code == 0, err.getvalue()
    assert runtime.calls[0]["body"] == {"prompt": "Who am I?\n"}


def test_an_empty_standard_input_is_a_usage_error():
    with pytest.raises(SystemExit) as exited:
        invoke.parse_args(["-"], io.StringIO("  \n"))
    assert exited.value.code == 2


def test_missing_credentials_while_reading_the_stack_is_an_aws_error_as_the_readme_says(monkeypatch):
    """README: 2 configuration or missing stack, 6 any other AWS error (credentials, ...)."""
    from botocore.exceptions import NoCredentialsError

    class NoCredentials:
        def describe_stacks(self, **kwargs: Any) -> None:
            raise NoCredentialsError()

    monkeypatch.setattr(invoke, "resolve_target", _bind(invoke.resolve_target, NoCredentials()))
    code, _, err = run("--stage", "dev", "hi")
    assert code == invoke.AWS_ERROR == 6
    assert err.strip().splitlines()[-1] == "error: AWS: Unable to locate credentials"
    readme = (ROOT / "README.md").read_text()
    assert "6 any other AWS error (credentials" in readme and "2 configuration or missing stack" in readme


def test_a_python_without_boto3_gets_one_line_naming_the_venv(tmp_path):
    """The Quick start on a machine whose python3 has only the standard library (-S: no site-packages)."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-S", str(ROOT / "scripts" / "invoke.py"), "--local", "hi"],
        capture_output=True,
        text=True,
        env={"LOCAL_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: this Python ({sys.executable}) has no boto3: run `make install`, "
        "then `.venv/bin/python scripts/invoke.py`"
    ]


def test_the_readme_quick_start_command_runs_with_the_interpreter_make_install_fills(tmp_path):
    """The documented command, run as written by a shell (no stage running here: its one-line answer)."""
    import subprocess

    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    command = next(line for line in quick_start.splitlines() if "scripts/invoke.py --local" in line)
    assert command.startswith(".venv/bin/python scripts/invoke.py --local ")  # never the system python3
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"LOCAL_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 2
    missing = tmp_path / "stage.json"
    assert result.stderr.splitlines() == [
        f"error: no local stage is running ({missing} missing or unreadable): start `make local`"
    ]


def _local_stage_files(state: Path, url: str) -> None:
    users = state / "users.json"
    users.write_text(json.dumps({"alice": "alice-pw", "bob": "bob-pw"}))
    stage = {
        "invocation_url": url,
        "region": REGION,
        "user_client_id": "local-client",
        "cognito_endpoint": "http://127.0.0.1:9",
        "users_file": str(users),
    }
    (state / "stage.json").write_text(json.dumps(stage))


def test_agent_username_chooses_the_local_user(runtime, tmp_path, monkeypatch, request):
    _local_stage_files(tmp_path, runtime.url)
    lock = stage_lock.hold(tmp_path)  # as the running stage holds it
    request.addfinalizer(lambda: os.close(lock))
    logged_in = []
    monkeypatch.setattr(invoke, "login", lambda _c, _id, name, password, _ask: logged_in.append(name) or "t")
    code, _, err = run("--local", "hi", environ={"LOCAL_STATE_DIR": str(tmp_path), "AGENT_USERNAME": "bob"})
    assert code == 0, err
    assert logged_in == ["bob"]
    code, _, err = run("--local", "hi", environ={"LOCAL_STATE_DIR": str(tmp_path), "AGENT_USERNAME": "eve"})
    assert code == 2
    assert err.splitlines() == [
        "error: 'eve' (--user / AGENT_USERNAME) is not a local user; choose from alice, bob"
    ]


# A stage with a canary, as its Runtime stack publishes it (stacks/runtime_stack.py).
CANARY_STAGE = {"RuntimeEndpointName": "live", "CanaryEndpointName": "canary", "CanaryPercent": "10"}


def _end_to_end(runtime: RuntimeStandIn, monkeypatch, *argv: str) -> tuple[int, str, str]:
    """`invoke.py --stage prod ...` against the stand-in, its URL from prod-Runtime's outputs."""
    outputs = {**CANARY_STAGE, "InvocationUrl": runtime.url.replace("qualifier=DEFAULT", "qualifier=live")}
    client = stubbed_cloudformation({"prod-Runtime": {**outputs, "Region": REGION}})
    monkeypatch.setattr(invoke, "resolve_target", _bind(invoke.resolve_target, client))
    return run("--stage", "prod", "--no-auth", *argv)


def test_endpoint_sends_the_call_to_the_chosen_runtime_endpoint(runtime, monkeypatch):
    code, _, err = _end_to_end(runtime, monkeypatch, "--endpoint", "canary", "hi")
    assert code == 4  # the stand-in refuses a call without a token: it did reach it
    (call,) = runtime.calls
    assert call["path"].endswith("/invocations?qualifier=canary")
    assert "(endpoint canary)" in err


def test_an_unknown_endpoint_is_one_line_naming_the_stages_endpoints(runtime, monkeypatch):
    code, _, err = _end_to_end(runtime, monkeypatch, "--endpoint", "beta", "hi")
    assert code == 2 and runtime.calls == []
    assert err == "error: stage prod has no runtime endpoint 'beta' (its endpoints: DEFAULT, canary, live)\n"


def test_endpoint_needs_the_stages_outputs(capsys):
    with pytest.raises(SystemExit) as exited:
        invoke.main(["--url", "https://example.com/inv", "--endpoint", "canary", "hi"], environ={})
    assert exited.value.code == 2
    assert "--endpoint picks one of the stage's endpoints" in capsys.readouterr().err


@pytest.mark.parametrize(("wanted", "endpoint"), [(3, "canary"), (9, "canary"), (10, "live"), (97, "live")])
def test_without_endpoint_a_canary_stage_gets_its_share_of_sessions_by_session_id(wanted, endpoint):
    """10 %: buckets 0-9 go to the canary; a session id keeps its endpoint on every turn."""
    session = next(
        f"prod-session-{n:024d}" for n in range(10_000) if bucket(f"prod-session-{n:024d}") == wanted
    )
    client = stubbed_cloudformation(
        {"prod-Runtime": {**CANARY_STAGE, "InvocationUrl": "https://rt/inv?qualifier=live"}}
    )
    args = invoke.parse_args(["--stage", "prod", "--no-auth", "--session-id", session, "hi"])
    assert invoke.resolve_target(args, lambda region: client).url == f"https://rt/inv?qualifier={endpoint}"


def test_a_stage_without_a_canary_keeps_the_url_it_publishes():
    client = stubbed_cloudformation(
        {"dev-Runtime": {"RuntimeEndpointName": "live", "InvocationUrl": "https://rt/inv?qualifier=live"}}
    )
    args = invoke.parse_args(["--stage", "dev", "--no-auth", "--session-id", "s" * 40, "hi"])
    assert invoke.resolve_target(args, lambda region: client).url == "https://rt/inv?qualifier=live"
