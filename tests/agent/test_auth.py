"""The actor is the verified token's `sub`; bad tokens get 401 JSON before the model is called."""

from __future__ import annotations

import logging

import jwt
import pytest
from agentcore_agent.auth import LOCAL_ACTOR, Authenticator, AuthError
from cryptography.hazmat.primitives.asymmetric import rsa

from local.scripted_model import Text
from tests.agent.conftest import SESSION_A, settings


@pytest.fixture
def server(start_server, auth_env):
    return start_server([Text("first"), Text("second"), Text("third")], env=auth_env)


def test_valid_token_is_served(server, issuer):
    reply = server.post({"prompt": "hi"}, token=issuer.mint(sub="alice"))
    assert reply.status == 200
    assert reply.text == "first"


def test_actor_is_the_token_sub_and_payload_actor_id_is_ignored(server, issuer):
    # Alice starts a conversation; Mallory claims to be Alice in the payload, in the same session id.
    server.post({"prompt": "alice secret"}, token=issuer.mint(sub="alice"), session=SESSION_A)
    reply = server.post(
        {"prompt": "what did I say?", "actor_id": "alice", "user_id": "alice"},
        token=issuer.mint(sub="mallory"),
        session=SESSION_A,
    )
    assert reply.status == 200
    # Mallory's agent is a different one: Alice's turn never reaches the model on Mallory's behalf.
    texts = [m["content"][0].get("text") for m in server.model.requests[1].messages]
    assert texts == ["what did I say?"]
    # Alice, in the same session, still has her own history.
    server.post({"prompt": "again"}, token=issuer.mint(sub="alice"), session=SESSION_A)
    texts = [m["content"][0].get("text") for m in server.model.requests[2].messages]
    assert texts == ["alice secret", "first", "again"]


def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


BAD_TOKENS = [
    pytest.param(lambda i: None, "missing Authorization", id="missing"),
    pytest.param(lambda i: i.mint(expires_in=-120), "expired", id="expired"),
    pytest.param(lambda i: i.mint(client_id="client-z"), "app client", id="wrong-client"),
    pytest.param(lambda i: "garbage.token.value", "invalid access token", id="garbage"),
    pytest.param(lambda i: "notajwt", "invalid access token", id="not-a-jwt"),
    pytest.param(lambda i: i.mint(token_use="id"), "access token is required", id="id-token"),
    pytest.param(
        lambda i: i.mint(issuer="https://evil.example.com/pool"), "invalid access token", id="wrong-issuer"
    ),
    pytest.param(lambda i: i.mint(key=_other_key()), "invalid access token", id="wrong-signature"),
    pytest.param(lambda i: i.mint(kid="unknown-kid"), "invalid access token", id="unknown-kid"),
]


@pytest.mark.parametrize(("make_token", "fragment"), BAD_TOKENS)
def test_bad_token_is_refused_with_401_json(server, issuer, make_token, fragment):
    reply = server.post({"prompt": "hi"}, token=make_token(issuer))
    assert reply.status == 401
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["error"] == "Unauthorized"
    assert fragment in body["message"]
    assert server.model.requests == []


def _unsigned_with_header(header: dict) -> str:
    """A token whose header PyJWT itself would refuse to write (e.g. a non-string kid)."""
    import base64
    import json

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part({'sub': 'x'})}.c2ln"


def _signed(issuer, overrides: dict) -> str:
    """A validly signed Cognito-shaped token with `overrides`, even those PyJWT's encoder refuses (`iss`)."""
    import json

    claims = jwt.decode(issuer.mint(), options={"verify_signature": False})
    payload = json.dumps({**claims, **overrides}).encode()
    return jwt.PyJWS().encode(payload, issuer._key, algorithm="RS256", headers={"kid": issuer.kid})


MALFORMED_CLAIMS = [
    pytest.param({"client_id": ["client-a"]}, "client_id claim", id="client_id-list"),
    pytest.param({"client_id": {"client-a": 1}}, "client_id claim", id="client_id-object"),
    pytest.param({"client_id": 7}, "client_id claim", id="client_id-number"),
    pytest.param({"sub": ["alice"]}, "Subject must be a string", id="sub-list"),
    pytest.param({"sub": 42}, "Subject must be a string", id="sub-number"),
    pytest.param({"sub": ""}, "sub claim", id="sub-empty"),
    pytest.param({"token_use": ["access"]}, "token_use claim", id="token_use-list"),
    pytest.param({"token_use": None}, "token_use", id="token_use-null"),
    pytest.param({"exp": "tomorrow"}, "(exp) must be an integer", id="exp-string"),
    pytest.param({"iat": [1]}, "(iat) must be an integer", id="iat-list"),
    pytest.param({"nbf": "now"}, "(nbf) must be an integer", id="nbf-string"),
    pytest.param({"iss": ["https://issuer"]}, "Issuer (iss) must be a string", id="iss-list"),
    pytest.param({"iss": 12}, "Issuer (iss) must be a string", id="iss-number"),
    pytest.param({"scope": ["openid", "admin"]}, "scope claim", id="scope-list"),
    pytest.param({"scope": 5}, "scope claim", id="scope-number"),
]


@pytest.mark.parametrize(("claims", "fragment"), MALFORMED_CLAIMS)
def test_a_signed_token_with_a_malformed_claim_is_a_401_with_a_one_line_reason(
    server, issuer, claims, fragment
):
    reply = server.post({"prompt": "hi"}, token=_signed(issuer, claims))
    assert reply.status == 401, reply.body
    body = reply.json()
    assert body["error"] == "Unauthorized"
    assert fragment in body["message"]
    assert "\n" not in body["message"] and "Traceback" not in body["message"]
    assert server.model.requests == []


@pytest.mark.parametrize(
    "header",
    [{"alg": "RS256", "kid": ["test-key-1"]}, {"alg": "RS256", "kid": {"a": 1}}, {"alg": ["RS256"]}],
    ids=["kid-list", "kid-object", "alg-list"],
)
def test_a_token_with_a_malformed_header_is_a_401(server, header):
    reply = server.post({"prompt": "hi"}, token=_unsigned_with_header(header))
    assert reply.status == 401
    assert reply.json()["message"].startswith("invalid access token (")


def test_non_bearer_scheme_is_refused(server, issuer):
    reply = server.post({"prompt": "hi"}, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert reply.status == 401
    assert "Bearer" in reply.json()["message"]


def test_unsigned_alg_none_token_is_refused(server, issuer):
    import jwt

    token = jwt.encode({"sub": "x", "client_id": "client-a", "token_use": "access"}, None, algorithm="none")
    assert server.post({"prompt": "hi"}, token=token).status == 401


def test_bad_token_is_refused_before_the_payload_is_looked_at(server):
    reply = server.post({"no": "prompt"})
    assert reply.status == 401


def test_keys_are_fetched_once_and_cached(start_server, auth_env, issuer):
    server = start_server([Text("ok")], env=auth_env)
    before = len(issuer.requests)
    for _ in range(3):
        assert server.post({"prompt": "hi"}, token=issuer.mint()).status == 200
    fetched = issuer.requests[before:]
    assert sum(path.endswith("openid-configuration") for path in fetched) == 1
    assert sum(path.endswith("jwks.json") for path in fetched) == 1


def test_unreachable_issuer_is_a_503_not_a_401(start_server):
    env = {
        "OIDC_DISCOVERY_URL": "http://127.0.0.1:9/pool/.well-known/openid-configuration",
        "ALLOWED_CLIENTS": "c",
    }
    server = start_server([Text("ok")], env=env)
    reply = server.post({"prompt": "hi"}, token="a.b.c")
    assert reply.status == 503
    assert reply.json()["error"] == "AuthUnavailable"


def test_without_discovery_url_auth_is_off_and_the_actor_is_fixed(caplog):
    with caplog.at_level(logging.WARNING, logger="agentcore_agent"):
        authenticator = Authenticator(settings())
    assert not authenticator.enabled
    assert authenticator.authenticate({"Authorization": "Bearer whatever"}).actor_id == LOCAL_ACTOR
    assert any("auth is OFF" in r.getMessage() for r in caplog.records)


def test_authenticator_returns_claims_of_a_valid_token(issuer, auth_env):
    authenticator = Authenticator(settings(**auth_env))
    caller = authenticator.authenticate({"authorization": f"Bearer {issuer.mint(sub='bob', scope='a b')}"})
    assert (caller.actor_id, caller.client_id, caller.scopes) == ("bob", "client-a", ("a", "b"))
    with pytest.raises(AuthError) as refused:
        authenticator.authenticate({})
    assert refused.value.status == 401


def test_discovery_document_advertising_another_issuer_is_refused(issuer, auth_env):
    issuer.advertised_issuer = "https://evil.example.com/pool"
    try:
        authenticator = Authenticator(settings(**auth_env))
        with pytest.raises(AuthError) as refused:
            authenticator.authenticate({"Authorization": f"Bearer {issuer.mint()}"})
        assert refused.value.status == 503
    finally:
        issuer.advertised_issuer = None


@pytest.mark.parametrize(
    ("claims", "kind"),
    [
        ({"sub": "alice-sub", "role": "customer"}, "user"),
        ({"sub": "a-user-without-role"}, "user"),
        ({"sub": "olivia-sub", "role": "operator"}, "operator"),
        ({"sub": "client-a"}, "machine"),  # client credentials: Cognito makes the sub the app client id
        ({"sub": "client-a", "role": "operator"}, "machine"),
    ],
)
def test_the_callers_kind_comes_from_the_verified_token(issuer, auth_env, claims, kind):
    """Token budgets are per kind of caller, so the kind is read from the signed claims only."""
    authenticator = Authenticator(settings(**auth_env))
    token = issuer.mint(client_id="client-a", **claims)
    assert authenticator.authenticate({"Authorization": f"Bearer {token}"}).kind == kind
