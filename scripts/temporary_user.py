"""A throwaway Cognito user for post-deploy checks, so no long-lived test password exists anywhere.

The smoke test and the evaluation gate create the user with admin APIs of the stage's own pool (suppressing
any invitation), link it to a sample customer through the admin-only `custom:customer_id` attribute, give it
a random password that only this process ever holds, sign in through the user client (USER_PASSWORD_AUTH;
when the pool requires MFA they enrol a software token and answer with a TOTP computed here), and delete the
user when done, even if a check failed. Needs cognito-idp:AdminCreateUser, AdminSetUserPassword and
AdminDeleteUser on that pool.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import struct
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from scripts.invoke import aws_message  # callers import this module as scripts.temporary_user

CUSTOMER_ATTRIBUTE = "custom:customer_id"  # stacks/identity_stack.py
MAX_CHALLENGES = 3


class UserError(Exception):
    """A step of the temporary user's life failed; the message names the step."""


@dataclass(frozen=True)
class TemporaryUser:
    username: str
    password: str


def random_password() -> str:
    """32 random characters with every class the pool's password policy asks for."""
    alphabet = string.ascii_letters + string.digits + "!#%+-=?@^_"
    core = "".join(secrets.choice(alphabet) for _ in range(28))
    return core + secrets.choice(string.ascii_uppercase) + secrets.choice(string.ascii_lowercase) + "7!"


def totp(secret_base32: str, at: float | None = None, digits: int = 6, period: int = 30) -> str:
    """RFC 6238 time-based one-time password (SHA-1, 30 s), as authenticator apps compute it."""
    key = base64.b32decode(secret_base32.upper() + "=" * (-len(secret_base32) % 8))
    counter = struct.pack(">Q", int((time.time() if at is None else at) // period))
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


@contextmanager
def temporary_customer(cognito: Any, pool_id: str, customer_id: str, prefix: str) -> Iterator[TemporaryUser]:
    """A user linked to `customer_id` for the duration of the block; always deleted afterwards."""
    user = TemporaryUser(f"{prefix}-{uuid.uuid4().hex[:12]}", random_password())
    try:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=user.username,
            UserAttributes=[{"Name": CUSTOMER_ATTRIBUTE, "Value": customer_id}],
            MessageAction="SUPPRESS",
        )
    except Exception as error:
        raise UserError(f"cannot create a temporary user: {aws_message(error)}") from None
    try:
        try:
            cognito.admin_set_user_password(
                UserPoolId=pool_id, Username=user.username, Password=user.password, Permanent=True
            )
        except Exception as error:
            raise UserError(f"cannot set the temporary user's password: {aws_message(error)}") from None
        yield user
    finally:
        try:
            cognito.admin_delete_user(UserPoolId=pool_id, Username=user.username)
        except Exception as error:
            raise UserError(f"cannot delete temporary user {user.username}: {aws_message(error)}") from None


def access_token(cognito: Any, client_id: str, user: TemporaryUser) -> str:
    """Sign in through the user client; enrol and answer a software-token MFA challenge if the pool asks."""
    try:
        response = cognito.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=client_id,
            AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
        )
        secret: str | None = None
        for _ in range(MAX_CHALLENGES):
            if "AuthenticationResult" in response:
                return str(response["AuthenticationResult"]["AccessToken"])
            challenge, session = response.get("ChallengeName"), response.get("Session")
            if challenge == "MFA_SETUP":
                enrolment = cognito.associate_software_token(Session=session)
                secret = enrolment["SecretCode"]
                verified = cognito.verify_software_token(
                    Session=enrolment["Session"], UserCode=totp(secret), FriendlyDeviceName="smoke"
                )
                answer = {"USERNAME": user.username}
                session = verified["Session"]
            elif challenge == "SOFTWARE_TOKEN_MFA" and secret:
                answer = {"USERNAME": user.username, "SOFTWARE_TOKEN_MFA_CODE": totp(secret)}
            else:
                raise UserError(f"sign-in asked for {challenge}, which a temporary user cannot answer")
            response = cognito.respond_to_auth_challenge(
                ClientId=client_id, ChallengeName=challenge, Session=session, ChallengeResponses=answer
            )
    except UserError:
        raise
    except Exception as error:
        raise UserError(f"the temporary user cannot sign in: {aws_message(error)}") from None
    raise UserError(f"sign-in did not finish after {MAX_CHALLENGES} challenges")
