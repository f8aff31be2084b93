"""The OpenAI model option end to end without AWS or OpenAI: the app as `__main__` wires it (default model
factory) → `@requires_api_key` → botocore → the Identity double (GetResourceApiKey for the runtime's workload
token) and Strands' OpenAIModel → the openai SDK → the chat-completions streaming double.

Covers the answer arriving through OpenAI with the key from AgentCore Identity only, the key fetched once
and kept in memory, a rotated key (401) fetched again exactly once, and the key in no log line, environment
variable or response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from agentcore_agent.__main__ import wire_app
from agentcore_agent.openai_model import ApiKeyCache, IdentityKeyedOpenAIModel
from strands import ModelRetryStrategy

from local.identity_server import IdentityServer
from tests.agent.conftest import SESSION_A, Reply, request, serve, settings
from tests.agent.gateway_fixtures import WORKLOAD_HEADER, WORKLOAD_TOKEN
from tests.doubles.openai_server import OpenAIServer

pytest_plugins = ["tests.agent.gateway_fixtures"]  # fixture: aws_env

PROVIDER = "agentcore-dev-openai"
MODEL = "gpt-4o-mini"
KEY = "sk-test-0123456789abcdefABCDEF"
ROTATED = "sk-test-rotated-9876543210zyxw"
ANSWER = "Hello from OpenAI."
TURN_TIMEOUT = 120  # generous: the suite shares a loaded machine; a turn here takes well under a second


@dataclass
class Stage:
    identity: IdentityServer
    openai: OpenAIServer
    port: int

    def ask(self, prompt: str = "Say hello", session: str = SESSION_A) -> Reply:
        headers = {"Content-Type": "application/json", WORKLOAD_HEADER: WORKLOAD_TOKEN}
        headers["X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"] = session
        body = json.dumps({"prompt": prompt}).encode()
        reply = request(self.port, "POST", "/invocations", body, headers, timeout=TURN_TIMEOUT)
        assert reply.status == 200, reply.body
        return reply

    def rotate(self, key: str = ROTATED) -> None:
        """The operator rotated the key: OpenAI accepts only the new one, Identity hands out the new one."""
        self.identity.api_keys[PROVIDER] = key
        self.openai.api_key = key


@pytest.fixture
def start(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Stage]]:
    running: list[Any] = []

    def launch(answers: list[str] | None = None) -> Stage:
        identity = IdentityServer(workload_token=WORKLOAD_TOKEN, api_keys={PROVIDER: KEY}).start()
        openai = OpenAIServer(KEY, answers or [ANSWER]).start()
        running.extend([identity.stop, openai.stop])
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", identity.endpoint_url)
        monkeypatch.setenv("OPENAI_BASE_URL", openai.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        app, close = wire_app(
            settings(MODEL_PROVIDER="openai", MODEL_ID=MODEL, OPENAI_API_KEY_PROVIDER=PROVIDER),
            retry_factory=lambda: ModelRetryStrategy(max_attempts=1),
        )
        context = serve(app)
        port = context.__enter__()
        running.extend([close, lambda: context.__exit__(None, None, None)])
        return Stage(identity, openai, port)

    yield launch
    for stop in reversed(running):
        stop()


def test_the_agent_answers_through_openai_with_the_key_from_agentcore_identity(start):
    stage = start()
    reply = stage.ask("Say hello")
    assert reply.text == ANSWER
    assert reply.events[-1] == {"type": "end", "stop_reason": "end_turn"}
    (fetch,) = stage.identity.api_key_requests
    assert fetch.body == {"workloadIdentityToken": WORKLOAD_TOKEN, "resourceCredentialProviderName": PROVIDER}
    assert fetch.headers["authorization"].startswith("AWS4-HMAC-SHA256")
    (call,) = stage.openai.requests
    assert call.bearer == KEY
    assert call.body["model"] == MODEL and call.body["stream"] is True
    assert call.body["messages"][-1]["content"][0]["text"] == "Say hello"


def test_the_key_is_fetched_once_and_kept_in_memory_across_turns_and_sessions(start):
    stage = start(["one", "two", "three"])
    sessions = (SESSION_A, SESSION_A, "session-other-0123456789-0123456789")
    assert [stage.ask(session=s).text for s in sessions] == ["one", "two", "three"]
    assert len(stage.identity.api_key_requests) == 1
    assert [r.bearer for r in stage.openai.requests] == [KEY] * 3


def test_a_rotated_key_is_fetched_again_once_and_the_call_retried(start):
    stage = start(["before", "after"])
    assert stage.ask().text == "before"
    stage.rotate()
    reply = stage.ask()
    assert reply.text == "after"
    assert reply.events[-1]["type"] == "end"
    assert len(stage.identity.api_key_requests) == 2
    assert [r.bearer for r in stage.openai.requests] == [KEY, KEY, ROTATED]
    assert stage.ask().text == "after" and len(stage.identity.api_key_requests) == 2


def test_a_key_openai_keeps_refusing_is_fetched_again_only_once_and_the_turn_fails_cleanly(start):
    stage = start()
    stage.openai.api_key = "sk-some-other-key"  # Identity still hands out KEY
    reply = stage.ask()
    assert reply.events[-1]["type"] == "error"
    assert len(stage.identity.api_key_requests) == 2
    assert [r.bearer for r in stage.openai.requests] == [KEY, KEY]
    assert KEY not in reply.body.decode() and "Traceback" not in reply.body.decode()


def test_identity_refusing_the_key_is_a_clear_error_and_openai_is_never_called(start):
    stage = start()
    stage.identity.fail_with("AccessDeniedException", "not allowed to read this provider")
    reply = stage.ask()
    assert reply.events[-1]["type"] == "error"
    assert reply.events[-1]["error"] == "ModelAccessDenied"
    assert stage.openai.requests == []


def test_the_key_is_in_no_log_line_environment_variable_or_response(start, caplog, capfd):
    caplog.set_level(logging.DEBUG)  # every library's debug logging: openai, httpx, botocore, strands, SDK
    stage = start(["before", "after"])
    bodies = [stage.ask().body]
    stage.rotate()
    bodies.append(stage.ask().body)
    assert len(stage.identity.api_key_requests) == 2  # both keys really went through the process
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GetResourceApiKey" in logged or "api-key" in logged or "API key" in logged  # logging was on
    printed = "".join(capfd.readouterr())
    for key in (KEY, ROTATED):
        assert key not in logged
        assert key not in printed
        assert all(key not in value for value in os.environ.values())
        assert all(key.encode() not in body for body in bodies)


def test_model_config_is_the_openai_model_and_update_config_applies():
    model = IdentityKeyedOpenAIModel(ApiKeyCache(lambda: KEY), model_id=MODEL)
    assert model.get_config() == {"model_id": MODEL}
    model.update_config(params={"max_tokens": 100})
    assert model.config == {"model_id": MODEL, "params": {"max_tokens": 100}}


def test_cache_refuses_an_empty_key_and_invalidate_keeps_a_newer_key():
    with pytest.raises(ValueError, match="empty API key"):
        asyncio.run(ApiKeyCache(lambda: "").get())
    keys = iter(["first", "second"])
    cache = ApiKeyCache(lambda: next(keys))
    assert asyncio.run(cache.get()) == "first"
    cache.invalidate("stale-other-key")
    assert asyncio.run(cache.get()) == "first" and cache.fetches == 1
    cache.invalidate("first")
    assert asyncio.run(cache.get()) == "second" and cache.fetches == 2
