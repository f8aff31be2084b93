"""A fresh process (every AgentCore session) builds what a first turn needs beside the server's start."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from agentcore_agent import memory_hooks
from agentcore_agent.__main__ import WARM_UP_THREAD, main
from agentcore_agent.auth import Authenticator, AuthError
from agentcore_agent.gateway_client import tls_context
from agentcore_agent.settings import Settings
from bedrock_agentcore.runtime import BedrockAgentCoreApp

from local.oidc_issuer import OidcIssuer

REGION = "us-east-1"


def _environment(issuer: OidcIssuer) -> dict[str, str]:
    return {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": "http://127.0.0.1:1/never-called",
        "MODEL_ID": "m",
        "OIDC_DISCOVERY_URL": issuer.discovery_url,
        "ALLOWED_CLIENTS": "client-a",
        "MEMORY_ID": "warmUpMemory-abcdefghij",
        "GATEWAY_URL": "https://gw.example.com/mcp",
    }


def test_main_builds_keys_model_and_clients_while_the_server_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before any request: the issuer's keys are fetched, the model and the memory client are built and the
    gateway's TLS context is loaded, on a thread that runs beside the server (not before it)."""
    server_started = threading.Event()
    models: list[bool] = []  # per build: whether the server had started by then

    def model_built_once_the_server_runs(settings: Settings) -> object:
        models.append(server_started.wait(timeout=10))
        return object()

    seen: dict[str, Any] = {}

    def run(app: BedrockAgentCoreApp, **options: Any) -> None:
        warming = [t for t in threading.enumerate() if t.name == WARM_UP_THREAD]
        seen["warming while the server starts"] = bool(warming)
        server_started.set()
        for thread in warming:
            thread.join(timeout=10)
        seen["key fetches"] = list(issuer.requests)
        seen["memory clients"] = list(memory_hooks._CLIENTS)

    monkeypatch.setattr("agentcore_agent.__main__.configure_logging", lambda: None)
    monkeypatch.setattr("agentcore_agent.app.default_model", model_built_once_the_server_runs)
    monkeypatch.setattr(BedrockAgentCoreApp, "run", run)
    monkeypatch.setattr(memory_hooks, "_CLIENTS", {})
    tls_context.cache_clear()
    with OidcIssuer() as issuer:
        monkeypatch.setattr("os.environ", _environment(issuer))
        assert main() == 0

    assert seen["warming while the server starts"]
    assert models == [True]  # built once, on the warm-up thread, while the server was starting
    assert [path.rsplit("/", 1)[1] for path in seen["key fetches"]] == ["openid-configuration", "jwks.json"]
    assert [key[0] for key in seen["memory clients"]] == [REGION]
    assert tls_context.cache_info().currsize == 1


def test_prefetched_keys_serve_the_first_caller_without_a_fetch() -> None:
    with OidcIssuer() as issuer:
        authenticator = Authenticator(_settings(issuer))
        authenticator.prefetch_keys()
        fetched = len(issuer.requests)
        caller = authenticator.authenticate({"Authorization": f"Bearer {issuer.mint(sub='alice')}"})
        assert caller.actor_id == "alice"
        assert len(issuer.requests) == fetched == 2


def test_a_failed_prefetch_is_a_warning_and_the_first_request_reports_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = OidcIssuer().start()
    settings = _settings(issuer)
    token = issuer.mint(sub="alice")
    issuer.stop()
    authenticator = Authenticator(settings)
    authenticator.prefetch_keys()  # does not raise
    assert "could not prefetch the signing keys" in caplog.text
    with pytest.raises(AuthError) as refused:
        authenticator.authenticate({"Authorization": f"Bearer {token}"})
    assert refused.value.status == 503


def _settings(issuer: OidcIssuer) -> Settings:
    return Settings.from_env(_environment(issuer))
