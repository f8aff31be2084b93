"""Local Cognito OIDC issuer (emulator + test double): an HTTP server plus a minter of Cognito-shaped tokens.

It serves `/<pool>/.well-known/openid-configuration` and `/<pool>/.well-known/jwks.json` for a freshly
generated RSA key, the way `https://cognito-idp.<region>.amazonaws.com/<poolId>` does, so the agent's real
PyJWT/PyJWKClient code fetches and verifies over HTTP. `mint()` makes access tokens shaped like Cognito's:
`sub`, `client_id`, `token_use`, `iss`, `iat`, `exp`, `scope`, `jti` and no `aud`.

For the local stage it also answers Cognito's `InitiateAuth` (USER_PASSWORD_AUTH, JSON 1.1 with
`X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth`) for the users in `users`, so
`scripts/invoke.py` logs in with the same boto3 `cognito-idp` call it makes against a deployed stage
(`AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` points here). A user's `claims` go into its access token.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from local.http_server import JsonHandler, LocalServer

POOL_ID = "us-east-1_TestPool1"
INITIATE_AUTH = "AWSCognitoIdentityProviderService.InitiateAuth"


@dataclass(frozen=True)
class User:
    """A local user: what it logs in with, its `sub`, and the extra claims of its access token."""

    username: str
    password: str
    sub: str
    claims: dict[str, Any] = field(default_factory=dict)


class OidcIssuer:
    """A running issuer on 127.0.0.1; use as a context manager (or call `start`/`stop`)."""

    def __init__(self, pool_id: str = POOL_ID) -> None:
        self.pool_id = pool_id
        self.kid = "test-key-1"
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.requests: list[str] = []  # paths fetched, so tests can assert on caching
        self.advertised_issuer: str | None = None  # set to publish a mismatching `issuer` in discovery
        self.users: dict[str, User] = {}  # who may log in with InitiateAuth
        self.client_ids: frozenset[str] = frozenset({"client-a"})  # app clients InitiateAuth accepts
        self._server = LocalServer(self._handler(), poll_interval=0.02)

    @property
    def base_url(self) -> str:
        """The server root (http://127.0.0.1:<port>)."""
        return self._server.url

    @property
    def issuer(self) -> str:
        """The `iss` value, like https://cognito-idp.<region>.amazonaws.com/<poolId>."""
        return f"{self.base_url}/{self.pool_id}"

    @property
    def discovery_url(self) -> str:
        """What OIDC_DISCOVERY_URL is set to."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> OidcIssuer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> OidcIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def jwks(self) -> dict[str, Any]:
        """The public key set, as Cognito publishes it."""
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def mint(
        self,
        *,
        sub: str = "user-sub-1",
        client_id: str = "client-a",
        token_use: str = "access",
        expires_in: int = 3600,
        scope: str = "openid",
        issuer: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        **extra: Any,
    ) -> str:
        """A signed Cognito-style access token; override any field to make a bad one."""
        now = int(time.time())
        claims = {
            "sub": sub,
            "client_id": client_id,
            "token_use": token_use,
            "iss": issuer or self.issuer,
            "iat": now - 5 if expires_in > 0 else now + expires_in - 60,
            "auth_time": now - 5,
            "exp": now + expires_in,
            "scope": scope,
            "jti": str(uuid.uuid4()),
            "username": sub,
            **extra,
        }
        headers = {"kid": kid or self.kid}
        return jwt.encode(claims, key or self._key, algorithm="RS256", headers=headers)

    def initiate_auth(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Cognito's USER_PASSWORD_AUTH: tokens for a known user and password, else the service's errors."""
        if body.get("AuthFlow") != "USER_PASSWORD_AUTH":
            return 400, {
                "__type": "InvalidParameterException",
                "message": "only USER_PASSWORD_AUTH is on",
            }
        client_id = str(body.get("ClientId", ""))
        if client_id not in self.client_ids:
            return 400, {"__type": "ResourceNotFoundException", "message": "User pool client does not exist."}
        parameters = body.get("AuthParameters") or {}
        user = self.users.get(str(parameters.get("USERNAME", "")))
        supplied = str(parameters.get("PASSWORD", "")).encode()
        if user is None or not hmac.compare_digest(supplied, user.password.encode()):
            return 400, {"__type": "NotAuthorizedException", "message": "Incorrect username or password."}
        claims = {"username": user.username, **user.claims}
        access = self.mint(sub=user.sub, client_id=client_id, scope="aws.cognito.signin.user.admin", **claims)
        result = {"AccessToken": access, "ExpiresIn": 3600, "TokenType": "Bearer", "IdToken": access}
        return 200, {"AuthenticationResult": result, "ChallengeParameters": {}}

    def _handler(self) -> type[JsonHandler]:
        issuer = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                prefix = f"/{issuer.pool_id}/.well-known/"
                if self.path == prefix + "openid-configuration":
                    body = {
                        "issuer": issuer.advertised_issuer or issuer.issuer,
                        "jwks_uri": issuer.issuer + "/.well-known/jwks.json",
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "response_types_supported": ["code", "token"],
                        "subject_types_supported": ["public"],
                    }
                elif self.path == prefix + "jwks.json":
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                self.send_json(200, body)

            def do_POST(self) -> None:
                if self.headers.get("X-Amz-Target") != INITIATE_AUTH:
                    self.send_error(404)
                    return
                try:
                    request = json.loads(self.read_body() or b"{}")
                except json.JSONDecodeError:
                    request = {}
                status, body = issuer.initiate_auth(request if isinstance(request, dict) else {})
                error = {"x-amzn-ErrorType": body["__type"]} if status != 200 else {}
                self.send_bytes(
                    status, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1", **error}
                )

        return Handler
