"""Who is calling: the actor id is the `sub` of the verified Cognito access token, never a payload field.

The AgentCore Runtime's JWT authorizer already refuses bad tokens at the edge; the container verifies again
because it must derive the actor from the token (memory is keyed by actor) and must not trust a header it
cannot check (local runs, a misconfigured authorizer, or a future change of the runtime's configuration).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from .settings import DISCOVERY_SUFFIX, Settings

logger = logging.getLogger(__name__)

LOCAL_ACTOR = "local-developer"
_TIMEOUT_S = 5.0
_REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub", "client_id", "token_use")
_LEEWAY_S = 30  # tolerated clock skew between Cognito and the container


_UNAVAILABLE = "the token cannot be verified right now"


class AuthError(Exception):
    """The caller is not authenticated; `status` and `code` become the HTTP error response."""

    def __init__(self, message: str, *, status: int = 401, code: str = "Unauthorized") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


CALLER_STATE = "agentcore_caller"
"""The key under which the app hands the turn's verified `Caller` to plugins (Strands `invocation_state`)."""


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one invocation; `access_token` is the verified token (auth on only).

    The token is forwarded to the gateway so tool calls carry the user's identity (gateway_client.py).
    """

    actor_id: str
    client_id: str | None = None
    scopes: tuple[str, ...] = ()
    access_token: str | None = field(default=None, repr=False, compare=False)
    # "user", "operator" (the token's `role` claim, set by the pre-token trigger) or "machine" (a
    # client-credentials token: Cognito makes its `sub` the app client's id); token budgets are per kind.
    kind: str = "user"


class Authenticator:
    """Verifies `Authorization: Bearer <Cognito access token>`; the JWKS and discovery document are cached."""

    def __init__(self, settings: Settings) -> None:
        self._discovery_url = settings.oidc_discovery_url
        self._allowed_clients = settings.allowed_clients
        self._lock = threading.Lock()
        self._issuer: str | None = None
        self._jwks: jwt.PyJWKClient | None = None
        if self._discovery_url is None:
            logger.warning("auth is OFF (OIDC_DISCOVERY_URL not set): every caller is %r", LOCAL_ACTOR)
        else:
            clients = sorted(self._allowed_clients)
            logger.info("auth is ON: issuer from %s, allowed clients %s", self._discovery_url, clients)

    @property
    def enabled(self) -> bool:
        """Whether tokens are checked at all."""
        return self._discovery_url is not None

    def authenticate(self, headers: Mapping[str, str] | None) -> Caller:
        """Return the verified caller or raise `AuthError`. Blocking (may fetch keys): run it off the loop."""
        if self._discovery_url is None:
            return Caller(actor_id=LOCAL_ACTOR)
        token = _bearer_token(headers or {})
        issuer, jwks = self._issuer_and_keys()
        try:
            key = jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as error:
            logger.error("cannot fetch signing keys from %s: %s", self._discovery_url, error)
            raise _unavailable() from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError, TypeError, ValueError) as error:
            raise AuthError(f"invalid access token ({_one_line(error)})") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=issuer,
                leeway=_LEEWAY_S,
                # Cognito access tokens carry no `aud`; the app client is in `client_id` instead.
                options={"require": list(_REQUIRED_CLAIMS), "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the access token has expired; log in again") from None
        except (jwt.InvalidTokenError, TypeError, ValueError) as error:
            # PyJWT raises TypeError for some malformed claims (e.g. an `iss` that is not a string).
            raise AuthError(f"invalid access token ({_one_line(error)})") from None
        return _caller(claims, self._allowed_clients, token)

    def prefetch_keys(self) -> None:
        """Fetch the discovery document and the key set now (at start), so a first caller does not wait for
        them; a failure is left for the first request to retry and report."""
        if self._discovery_url is None:
            return
        try:
            self._issuer_and_keys()[1].get_jwk_set()
        except (AuthError, jwt.PyJWKClientError) as error:
            logger.warning("could not prefetch the signing keys (the first request retries): %s", error)

    def _issuer_and_keys(self) -> tuple[str, jwt.PyJWKClient]:
        """Fetch the discovery document once; later calls reuse it (keys are cached by PyJWKClient)."""
        with self._lock:
            if self._issuer is None or self._jwks is None:
                document = _fetch_discovery(str(self._discovery_url))
                issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
                if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
                    logger.error("discovery document at %s lacks issuer/jwks_uri", self._discovery_url)
                    raise _unavailable()
                if issuer.rstrip("/") + DISCOVERY_SUFFIX != self._discovery_url:
                    # OpenID Connect Discovery §4.3: the issuer must match the URL it was fetched from.
                    logger.error("discovery issuer %s does not match %s", issuer, self._discovery_url)
                    raise _unavailable()
                self._jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=3600, timeout=_TIMEOUT_S)
                self._issuer = issuer
            return self._issuer, self._jwks


def _caller(claims: dict[str, Any], allowed_clients: frozenset[str], token: str) -> Caller:
    """Check the claims this agent relies on: each must have the type Cognito gives it."""
    for name in ("sub", "client_id", "token_use"):
        value = claims[name]
        if not isinstance(value, str) or not value:
            raise AuthError(f"invalid access token (the {name} claim must be a non-empty string)")
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise AuthError("invalid access token (the scope claim must be a string)")
    if claims["token_use"] != "access":
        raise AuthError("an access token is required (got an id or other token)")
    if claims["client_id"] not in allowed_clients:
        raise AuthError("the token was issued to an app client that may not call this agent")
    if claims["sub"] == claims["client_id"]:
        kind = "machine"
    else:
        kind = "operator" if claims.get("role") == "operator" else "user"
    return Caller(
        actor_id=claims["sub"],
        client_id=claims["client_id"],
        scopes=tuple(scope.split()),
        access_token=token,
        kind=kind,
    )


def _one_line(error: BaseException) -> str:
    """A library's error message, bounded to one short line."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _unavailable() -> AuthError:
    """Keys or discovery cannot be fetched: a server-side problem, so 503 rather than 401."""
    return AuthError(_UNAVAILABLE, status=503, code="AuthUnavailable")


def _bearer_token(headers: Mapping[str, str]) -> str:
    """Extract the token from the Authorization header, whatever its casing."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        raise AuthError("missing Authorization header (expected 'Bearer <access token>')")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <access token>'")
    return token.strip()


def _fetch_discovery(url: str) -> dict[str, Any]:
    """GET the OpenID configuration; failures are the server's problem (503), not the caller's."""
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:  # URL validated in settings
            document = json.load(response)
    except (OSError, ValueError) as error:
        logger.error("cannot fetch OIDC discovery document %s: %s", url, error)
        raise _unavailable() from None
    if not isinstance(document, dict):
        raise _unavailable()
    return document
