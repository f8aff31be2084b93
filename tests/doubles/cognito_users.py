"""Test double for the Cognito user APIs the smoke test's temporary customer uses (cognito-idp).

moto cannot run a pool's Lambda triggers, so sign-in here does what the deployed pool does: check the
password, answer a software-token MFA enrolment with a real RFC 6238 check when MFA is required, run the
REAL pre-token-generation trigger (lambdas/pre_token) on a V3 event built from the user's attributes and
groups, and return an access token minted by the OIDC issuer double with the claims the trigger added.
Everything else (DescribeUserPoolClient, ...) goes to the wrapped moto client.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from local.oidc_issuer import OidcIssuer
from scripts.temporary_user import totp
from tests.doubles.cognito_events import added_claims, sign_in_event


def _refuse(operation: str, code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class User:
    sub: str
    attributes: dict[str, str]
    password: str | None = None
    groups: list[str] = field(default_factory=list)
    totp_secret: str | None = None


class CognitoUsers:
    """One pool's users and its user client, with the rest of cognito-idp served by `moto`."""

    def __init__(self, moto: Any, issuer: OidcIssuer, user_client_id: str, *, mfa_required: bool = False):
        self._moto, self.issuer, self.user_client_id = moto, issuer, user_client_id
        self.mfa_required = mfa_required
        self.users: dict[str, User] = {}
        self.deleted: list[str] = []
        self._sessions: dict[str, str] = {}  # session -> username

    def __getattr__(self, name: str) -> Any:
        return getattr(self._moto, name)

    def admin_create_user(self, *, UserPoolId: str, Username: str, UserAttributes: list, **_: Any) -> dict:
        if Username in self.users:
            raise _refuse("AdminCreateUser", "UsernameExistsException", "User account already exists.")
        attributes = {item["Name"]: item["Value"] for item in UserAttributes}
        self.users[Username] = User(str(uuid.uuid4()), attributes)
        return {"User": {"Username": Username}}

    def admin_set_user_password(
        self, *, UserPoolId: str, Username: str, Password: str, Permanent: bool
    ) -> dict:
        self.users[Username].password = Password
        return {}

    def admin_delete_user(self, *, UserPoolId: str, Username: str) -> dict:
        del self.users[Username]
        self.deleted.append(Username)
        return {}

    def initiate_auth(self, *, AuthFlow: str, ClientId: str, AuthParameters: dict[str, str]) -> dict:
        user = self.users.get(AuthParameters["USERNAME"])
        if AuthFlow != "USER_PASSWORD_AUTH" or ClientId != self.user_client_id:
            raise _refuse("InitiateAuth", "InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled.")
        if user is None or user.password != AuthParameters["PASSWORD"]:
            raise _refuse("InitiateAuth", "NotAuthorizedException", "Incorrect username or password.")
        if self.mfa_required:
            return {"ChallengeName": "MFA_SETUP", "Session": self._session(AuthParameters["USERNAME"])}
        return self._tokens(user)

    def associate_software_token(self, *, Session: str) -> dict:
        user = self.users[self._sessions[Session]]
        user.totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        return {"SecretCode": user.totp_secret, "Session": self._session(self._sessions[Session])}

    def verify_software_token(self, *, Session: str, UserCode: str, **_: Any) -> dict:
        user = self.users[self._sessions[Session]]
        if user.totp_secret is None or UserCode != totp(user.totp_secret):
            raise _refuse("VerifySoftwareToken", "EnableSoftwareTokenMFAException", "Code mismatch")
        return {"Status": "SUCCESS", "Session": self._session(self._sessions[Session])}

    def respond_to_auth_challenge(self, *, ClientId: str, ChallengeName: str, Session: str, **_: Any) -> dict:
        username = self._sessions.pop(Session, None)
        if username is None or ChallengeName != "MFA_SETUP":
            raise _refuse("RespondToAuthChallenge", "NotAuthorizedException", "Invalid session.")
        return self._tokens(self.users[username])

    def _session(self, username: str) -> str:
        session = uuid.uuid4().hex
        self._sessions[session] = username
        return session

    def _tokens(self, user: User) -> dict:
        """Run the real pre-token trigger, then mint the access token it shapes."""
        event = sign_in_event(user.sub, user.attributes, user.groups, client_id=self.user_client_id)
        claims = added_claims(event)
        token = self.issuer.mint(
            sub=user.sub, client_id=self.user_client_id, scope="aws.cognito.signin.user.admin", **claims
        )
        return {"AuthenticationResult": {"AccessToken": token, "TokenType": "Bearer", "ExpiresIn": 3600}}
