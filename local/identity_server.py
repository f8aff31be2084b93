"""Local AgentCore Identity data plane (emulator + test double): an HTTP server in botocore's REST-JSON.

The real SDK (`@requires_access_token` → `IdentityClient` → boto3 `bedrock-agentcore`) reaches it through
`AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`, so the whole client path runs: request serialisation, SigV4 signing,
error parsing. Shapes follow `botocore/data/bedrock-agentcore/2024-02-28/service-2.json`:

- `GetResourceOauth2Token`: `POST /identities/oauth2/token`, JSON body with the required members
  `workloadIdentityToken`, `resourceCredentialProviderName`, `scopes`, `oauth2Flow`; response
  `{"accessToken": ...}`.
- `GetResourceApiKey`: `POST /identities/api-key`, JSON body with the required members
  `workloadIdentityToken`, `resourceCredentialProviderName`; response `{"apiKey": ...}`: the key stored under
  that provider name in `api_keys`, only for the expected workload token (403 AccessDeniedException
  otherwise, 404 ResourceNotFoundException for an unknown provider).
- `GetWorkloadAccessToken[ForJWT|ForUserId]`: `POST /identities/GetWorkloadAccessToken...`; response
  `{"workloadAccessToken": ...}` (only the SDK's local-dev path calls these).
- Errors: the modelled HTTP status, an `x-amzn-ErrorType` header and `{"message": ...}`, which botocore turns
  into `ClientError` with that code (e.g. 403 `AccessDeniedException`, not retried by botocore).

Every request is recorded (`requests`) so tests can assert what was asked for; `fail_with(...)` makes the
next calls fail until `recover()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local.http_server import JsonHandler, LocalServer, json_or_raw

OAUTH2_TOKEN_PATH = "/identities/oauth2/token"
API_KEY_PATH = "/identities/api-key"
WORKLOAD_TOKEN_PATHS = (
    "/identities/GetWorkloadAccessToken",
    "/identities/GetWorkloadAccessTokenForJWT",
    "/identities/GetWorkloadAccessTokenForUserId",
)
_REQUIRED_API_KEY = ("workloadIdentityToken", "resourceCredentialProviderName")
_REQUIRED_OAUTH2 = ("workloadIdentityToken", "resourceCredentialProviderName", "scopes", "oauth2Flow")
_STATUS = {
    "UnauthorizedException": 401,
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}


@dataclass(frozen=True)
class Recorded:
    """One request the double received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class IdentityServer:
    """Serves the Identity data plane on 127.0.0.1; `access_token` is what GetResourceOauth2Token returns.

    `api_keys` maps API-key provider names to their keys (tests may rotate one by assigning a new value).
    """

    def __init__(
        self,
        access_token: str = "gateway-m2m-token",
        workload_token: str = "local-workload",
        api_keys: dict[str, str] | None = None,
    ) -> None:
        self.access_token = access_token
        self.workload_token = workload_token
        self.api_keys = dict(api_keys or {})
        self.requests: list[Recorded] = []
        self.delay_seconds = 0.0  # added before every answer: a slow identity service (benchmarks)
        self._failure: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._server = LocalServer(self._handler_class(), name="identity-double")

    @property
    def endpoint_url(self) -> str:
        """The value for AWS_ENDPOINT_URL_BEDROCK_AGENTCORE."""
        return self._server.url

    @property
    def token_requests(self) -> list[Recorded]:
        """Only the GetResourceOauth2Token calls."""
        return [r for r in self.requests if r.path == OAUTH2_TOKEN_PATH]

    @property
    def api_key_requests(self) -> list[Recorded]:
        """Only the GetResourceApiKey calls."""
        return [r for r in self.requests if r.path == API_KEY_PATH]

    def fail_with(self, code: str = "AccessDeniedException", message: str = "not allowed") -> None:
        """Answer every following call with this modelled error until `recover()`."""
        if code not in _STATUS:
            raise ValueError(f"{code} is not an error of the Identity data plane")
        self._failure = (code, message)

    def recover(self) -> None:
        """Stop failing."""
        self._failure = None

    def start(self) -> IdentityServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _respond(
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Pick the response for one request (runs under the lock)."""
        self.requests.append(Recorded(path, headers, body))
        if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
            return _error("UnauthorizedException", "request is not SigV4-signed")
        if self._failure is not None:
            return _error(*self._failure)
        if path == OAUTH2_TOKEN_PATH:
            missing = [name for name in _REQUIRED_OAUTH2 if name not in body]
            if missing:
                return _error("ValidationException", f"missing {missing}")
            return 200, {"accessToken": self.access_token}
        if path == API_KEY_PATH:
            return self._api_key(body)
        if path in WORKLOAD_TOKEN_PATHS:
            return 200, {"workloadAccessToken": self.workload_token}
        return _error("ResourceNotFoundException", f"no operation at {path}")

    def _api_key(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        missing = [name for name in _REQUIRED_API_KEY if name not in body]
        if missing:
            return _error("ValidationException", f"missing {missing}")
        if body["workloadIdentityToken"] != self.workload_token:
            return _error("AccessDeniedException", "the workload identity token is not valid")
        key = self.api_keys.get(body["resourceCredentialProviderName"])
        if key is None:
            return _error("ResourceNotFoundException", "no such API key credential provider")
        return 200, {"apiKey": key}

    def _handler_class(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = json_or_raw(self.read_body())
                if double.delay_seconds:
                    time.sleep(double.delay_seconds)  # this request's own thread: others are not held up
                with double._lock:
                    status, payload = double._respond(self.path, self.lowered_headers(), body)
                error_type = {"x-amzn-ErrorType": payload["__type"]} if status != 200 else {}
                self.send_json(status, payload, error_type)

        return Handler


def _error(code: str, message: str) -> tuple[int, dict[str, Any]]:
    """A REST-JSON error body; ValidationException also requires `reason` in the model."""
    body: dict[str, Any] = {"__type": code, "message": message}
    if code == "ValidationException":
        body["reason"] = "CannotParse"
    return _STATUS[code], body


@contextmanager
def running_identity(access_token: str = "gateway-m2m-token") -> Iterator[IdentityServer]:
    """A started identity double, stopped on exit."""
    server = IdentityServer(access_token).start()
    try:
        yield server
    finally:
        server.stop()
