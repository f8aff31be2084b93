"""What the chat page talks to and how it signs in: the local stage or a deployed one.

Sign-in and invocation are `scripts/invoke.py`'s own (`login`, `local_target`, `invoke`, its SSE reader), so
the page logs in exactly as the scripts do: Cognito `InitiateAuth` (USER_PASSWORD_AUTH), answering a
SOFTWARE_TOKEN_MFA challenge with the code the user typed; for the local stage at its issuer, as a local user
whose password the stage generated (`.local/users.json`, read here, never sent to the browser).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts import invoke
from webui.pricing import Prices

TURN_TIMEOUT_SECONDS = 300.0


class CodeNeeded(invoke.Failure):
    """The account has MFA and no code was typed: the sign-in form's next step, not a failed login."""

    def __init__(self) -> None:
        super().__init__("this account has MFA: enter the code from your authenticator app", 3)


@dataclass(frozen=True)
class ChatTarget:
    """Where turns go (`target`), what answers (`model`, for the page) and at what prices; for the local stage
    its users (signed in by name) and its stage file; `traces`: the file of the turns' spans, if readable."""

    name: str  # "local" or the stage's name: the page's title and its session ids' prefix
    target: invoke.Target
    model: str
    prices: Prices
    users: tuple[str, ...] = ()
    stage_file: Path | None = None
    traces: Path | None = None

    def sign_in(self, username: str, password: str = "", code: str = "") -> str:
        """The user's access token; raises invoke.Failure (one line) or CodeNeeded."""
        target = self.target
        if self.stage_file is not None:
            target, (username, password) = invoke.local_target(self.stage_file, username)
        if not username or not password:
            raise invoke.Failure("a username and password are required", 3)
        if target.client_id is None or target.region is None:
            raise invoke.Failure("the stage has no user client or region to sign in with", 2)
        import boto3

        cognito = boto3.client(
            "cognito-idp",
            region_name=target.region,
            endpoint_url=target.cognito_endpoint,
            **(invoke._unsigned() if target.cognito_endpoint else {}),
        )

        def ask_code(_: str) -> str:
            if not code.strip():
                raise CodeNeeded
            return code

        return invoke.login(cognito, target.client_id, username, password, ask_code)

    def turn(self, token: str, session_id: str, prompt: str) -> Iterator[Any]:
        """The agent's answer events, as they arrive; raises invoke.Failure when the call is refused."""
        with invoke.invoke(self.target.url, prompt, session_id, token, TURN_TIMEOUT_SECONDS) as response:
            if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
                yield {"type": "text", "text": response.read().decode("utf-8", "replace")}
                return
            yield from invoke._sse_events(response)


def model_label(provider: str, model_id: str | None, base_url: str | None = None) -> str:
    """What answers, as the page says it: scripted, Bedrock or OpenAI-compatible, and which model."""
    if provider == "scripted":
        return "scripted (deterministic local replies, no LLM)"
    if provider == "openai":
        return f"OpenAI-compatible: {model_id} at {base_url or 'api.openai.com'}"
    return f"Bedrock: {model_id}"
