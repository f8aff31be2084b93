"""Test double for the Cognito OAuth2 token endpoint (`https://<domain>/oauth2/token`): client_credentials.

What it reproduces: a form-encoded POST with `grant_type=client_credentials` and a `scope`, the client
authenticated with HTTP Basic (or `client_id`/`client_secret` in the body, which Cognito also accepts); a good
request gets `{"access_token", "token_type": "Bearer", "expires_in"}`, and the errors Cognito answers with
HTTP 400 and `{"error": ...}`: `invalid_client` (unknown client or wrong secret), `invalid_scope`,
`unsupported_grant_type`. The access token is a fixed string (the one the gateway double expects), not a JWT.
"""

from __future__ import annotations

import base64
import hmac
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from local.http_server import JsonHandler, LocalServer

TOKEN_PATH = "/oauth2/token"


@dataclass
class TokenEndpoint:
    """The client it knows, the token it issues, and the requests it saw (secrets left out)."""

    client_id: str
    client_secret: str
    scope: str
    access_token: str
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        """Cognito's decision for one token request."""
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        self.requests.append(
            {"client_id": client_id, "grant_type": form.get("grant_type"), "scope": form.get("scope")}
        )
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if client_id != self.client_id or not hmac.compare_digest(secret, self.client_secret):
            return 400, {"error": "invalid_client"}
        if set(form.get("scope", "").split()) - {self.scope}:
            return 400, {"error": "invalid_scope"}
        return 200, {"access_token": self.access_token, "token_type": "Bearer", "expires_in": 3600}


@contextmanager
def running_token_endpoint(
    *, client_id: str, client_secret: str, scope: str, access_token: str
) -> Iterator[TokenEndpoint]:
    """Serve the double on 127.0.0.1; its `url` is the full token endpoint URL."""
    endpoint = TokenEndpoint(client_id, client_secret, scope, access_token)

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            form = dict(urllib.parse.parse_qsl(self.read_body().decode()))
            if self.path != TOKEN_PATH:
                status, body = 404, {"error": "not_found"}
            else:
                status, body = endpoint.answer(form, self.headers.get("Authorization", ""))
            self.send_json(status, body)

    with LocalServer(Handler, poll_interval=0.02) as server:
        endpoint.url = f"{server.url}{TOKEN_PATH}"
        yield endpoint
