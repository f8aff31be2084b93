"""The AWS session of a post-deploy step (smoke, rollout, evaluate): its own credentials, or a stage role.

A stage in another account than the pipeline's holds a `<project>-<stage>-pipeline-steps` role
(stacks/pipeline_access.py); the pipeline passes its ARN as AGENTCORE_STEP_ROLE_ARN (or `--role-arn`), and
every client of the step is then made from a session that assumed it. Without one, nothing changes.

The credentials refresh themselves (botocore's AssumeRoleCredentialFetcher behind
DeferredRefreshableCredentials, the machinery of a `role_arn` profile): a CodeBuild role assuming another
role is role chaining, which AWS caps at one hour, and a canary bake can outlast that. Why not a `role_arn`
profile: it needs a config file and a `credential_source` naming where CodeBuild's own credentials come from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Clients = Callable[..., Any]  # boto3.client's signature: (service, region_name=..., config=...) -> client

ENVIRONMENT = "AGENTCORE_STEP_ROLE_ARN"
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


class RoleArnError(ValueError):
    """The given role is not an IAM role ARN; the message is one line naming where it came from."""


def role_arn(flag: str | None, environ: Mapping[str, str]) -> str | None:
    """`--role-arn`, else AGENTCORE_STEP_ROLE_ARN, checked; None (or empty): the step's own credentials."""
    value, source = (flag, "--role-arn") if flag else (environ.get(ENVIRONMENT, ""), ENVIRONMENT)
    if not value:
        return None
    if not ROLE_ARN.fullmatch(value):
        raise RoleArnError(
            f"{source} {value!r} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
        )
    return value


def clients(arn: str | None, name: str, *, base: Any = None, sts: Any = None) -> Clients:
    """What the step makes its clients with: `boto3.client` itself without a role (same account: nothing
    changes), else the client factory of a session acting as role `arn` (session name `name`).

    `base` is the session holding the step's own credentials (default: a new one); `sts` the STS client the
    role is assumed with (default: one of `base`)."""
    import boto3

    if arn is None:
        return lambda *args, **kwargs: boto3.client(*args, **kwargs)
    return _assumed(arn, name, base or boto3.Session(), sts).client


def _assumed(arn: str, name: str, base: Any, sts: Any) -> Any:
    import boto3
    import botocore.session
    from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
    from botocore.exceptions import NoCredentialsError

    source = base.get_credentials()
    if source is None:  # nothing to assume the role with: the scripts' one-line AWS error
        raise NoCredentialsError()
    client = sts or base.client("sts")
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=lambda *_, **__: client,
        source_credentials=source,
        role_arn=arn,
        extra_args={"RoleSessionName": name},
    )
    credentials = DeferredRefreshableCredentials(fetcher.fetch_credentials, method=_Given.METHOD)
    assumed = botocore.session.Session()
    assumed.get_component("credential_provider").insert_before("env", _Given(credentials))
    return boto3.Session(botocore_session=assumed, region_name=base.region_name)


class _Given:
    """A credential provider answering with fixed (refreshable) credentials, first in the resolver's chain."""

    METHOD = "assume-role"
    CANONICAL_NAME = "custom-assume-role"

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials
