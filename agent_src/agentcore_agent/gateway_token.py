"""The agent's own (M2M) gateway token: fetched from AgentCore Identity, cached until shortly before expiry.

`@requires_access_token(provider_name=GATEWAY_CREDENTIAL_PROVIDER, scopes=GATEWAY_SCOPES, auth_flow="M2M")`
calls AgentCore Identity `GetResourceOauth2Token` with the runtime's workload access token, which the SDK
reads from the request context (`BedrockAgentCoreContext`, filled from the `WorkloadAccessToken` /
`X-Amz-Bedrock-AgentCore-Identity-WAT` header), so the fetch must run in the request's context. The client
secret never reaches the container. The token is the agent's, not a user's: one process-wide `TokenCache`
keeps it until `REFRESH_MARGIN_SECONDS` before its JWT `exp` (`DEFAULT_TOKEN_TTL_SECONDS` when opaque).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import jwt

REFRESH_MARGIN_SECONDS = 60.0
DEFAULT_TOKEN_TTL_SECONDS = 300.0


class TokenCache:
    """A token fetched on demand and kept until shortly before it expires. Thread-safe."""

    def __init__(
        self,
        fetch: Callable[[], str],
        *,
        refresh_margin_seconds: float = REFRESH_MARGIN_SECONDS,
        default_ttl_seconds: float = DEFAULT_TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin_seconds
        self._default_ttl = default_ttl_seconds
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        """A valid token; fetches (blocking, in the caller's context) when missing or about to expire."""
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._expires_at - self._margin:
                return self._token
            token = self._fetch()
            if not isinstance(token, str) or not token:
                raise ValueError("the identity service returned an empty access token")
            self._token, self._expires_at = token, _expiry(token, now, self._default_ttl)
            return token

    def peek(self) -> str | None:
        """The cached token without fetching (for the HTTP auth hook, which runs outside the request)."""
        return self._token

    def invalidate(self) -> None:
        """Forget the token, e.g. after the gateway refused it."""
        with self._lock:
            self._token, self._expires_at = None, 0.0


def _expiry(token: str, now: float, default_ttl: float) -> float:
    """The JWT's `exp` (read without verification: the gateway verifies it), else now + default TTL."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return now + default_ttl
    return float(exp) if isinstance(exp, int | float) else now + default_ttl


def m2m_token_fetcher(provider_name: str, scopes: Sequence[str]) -> Callable[[], str]:
    """A blocking function returning the gateway's M2M token via AgentCore Identity (GetResourceOauth2Token).

    Decorated once here (the decorator builds boto3 clients); each call reads the workload access token
    from the calling request's context, so call it in that context (not from a bare thread).
    """
    from bedrock_agentcore.identity.auth import requires_access_token

    @requires_access_token(provider_name=provider_name, scopes=list(scopes), auth_flow="M2M")
    def fetch(*, access_token: str = "") -> str:
        return access_token

    return fetch
