"""A post-deploy step in another account: the stage role is assumed once through STS (botocore Stubber, the
real AssumeRole shapes), every client of the step signs with its credentials, and they refresh themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from scripts import step_role

ROLE = "arn:aws:iam::333344445555:role/agentcore-prod-pipeline-steps"
GOV_ROLE = "arn:aws-us-gov:iam::111122223333:role/path/to/steps"
OWN_KEY = "AKIAPIPELINEOWNKEY00"  # the CodeBuild role's credentials: must never sign a stage call


def _base() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=OWN_KEY, aws_secret_access_key="own-secret", region_name="us-east-1"
    )


def _assumed(key: str, expires_in: timedelta) -> dict:
    return {
        "Credentials": {
            "AccessKeyId": key,
            "SecretAccessKey": f"secret-of-{key}",
            "SessionToken": f"token-of-{key}",
            "Expiration": datetime.now(UTC) + expires_in,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROAEXAMPLEROLEID0000:agentcore-smoke",
            "Arn": "arn:aws:sts::333344445555:assumed-role/agentcore-prod-pipeline-steps/agentcore-smoke",
        },
    }


class SignedRequests:
    """Answers each request before it is sent (`before-send`, after signing), keeping its signing key."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def __call__(self, request, **_):
        authorization = request.headers["Authorization"].decode()
        self.keys.append(authorization.split("Credential=")[1].split("/")[0])
        return AWSResponse(request.url, 200, {}, _Raw(b"{}"))

    def attach(self, client):
        client.meta.events.register("before-send", self)
        return client


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


def _stubbed_sts(*responses: dict) -> tuple[object, Stubber]:
    sts = _base().client("sts")
    stubber = Stubber(sts)
    for response in responses:
        stubber.add_response("assume_role", response, {"RoleArn": ROLE, "RoleSessionName": "agentcore-smoke"})
    stubber.activate()
    return sts, stubber


def test_every_client_of_the_step_signs_with_the_assumed_role():
    sts, stubber = _stubbed_sts(_assumed("ASIASTAGEROLEKEY0001", timedelta(hours=1)))
    client = step_role.clients(ROLE, "agentcore-smoke", base=_base(), sts=sts)
    signed = SignedRequests()
    cognito = signed.attach(client("cognito-idp", region_name="us-east-1"))
    cloudwatch = signed.attach(client("cloudwatch", region_name="us-east-1"))
    control = signed.attach(client("bedrock-agentcore-control", region_name="us-east-1"))
    cognito.describe_user_pool_client(UserPoolId="us-east-1_AbCdEf123", ClientId="client")
    cloudwatch.describe_alarms(AlarmNamePrefix="agentcore-prod-canary-")
    control.get_agent_runtime_endpoint(agentRuntimeId="agentcore_prod_agent-AbCdEf1234", endpointName="live")
    assert signed.keys == ["ASIASTAGEROLEKEY0001"] * 3  # never the pipeline role's own key
    stubber.assert_no_pending_responses()  # assumed exactly once for all three clients


def test_credentials_about_to_expire_are_assumed_again():
    """Role chaining lasts at most an hour; a rollout's bake can be longer."""
    sts, stubber = _stubbed_sts(
        _assumed("ASIAFIRSTSESSIONKEY1", timedelta(minutes=5)),  # inside botocore's refresh window
        _assumed("ASIASECONDSESSIONKY2", timedelta(hours=1)),
    )
    client = step_role.clients(ROLE, "agentcore-smoke", base=_base(), sts=sts)
    signed = SignedRequests()
    cloudwatch = signed.attach(client("cloudwatch", region_name="us-east-1"))
    cloudwatch.describe_alarms(AlarmNamePrefix="agentcore-prod-canary-")
    cloudwatch.describe_alarms(AlarmNamePrefix="agentcore-prod-canary-")
    assert signed.keys[-1] == "ASIASECONDSESSIONKY2"
    stubber.assert_no_pending_responses()


def test_without_a_role_the_clients_are_boto3s_own(monkeypatch):
    made = []
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: made.append((args, kwargs)) or "own client")
    client = step_role.clients(None, "agentcore-smoke", base=_base())
    assert client("cloudwatch", region_name="us-east-1") == "own client"
    assert made == [(("cloudwatch",), {"region_name": "us-east-1"})]  # no STS call, no other session


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [
        (None, {}, None),
        (None, {step_role.ENVIRONMENT: ""}, None),
        (None, {step_role.ENVIRONMENT: ROLE}, ROLE),
        (ROLE, {step_role.ENVIRONMENT: "arn:aws:iam::111122223333:role/other"}, ROLE),  # the flag wins
        (GOV_ROLE, {}, GOV_ROLE),
    ],
)
def test_the_role_comes_from_the_flag_then_the_environment(flag, environ, expected):
    assert step_role.role_arn(flag, environ) == expected


@pytest.mark.parametrize(
    ("flag", "environ", "source"),
    [
        ("arn:aws:iam::333344445555:user/alice", {}, "--role-arn"),
        ("agentcore-prod-pipeline-steps", {}, "--role-arn"),
        (None, {step_role.ENVIRONMENT: "arn:aws:iam::3333:role/x"}, step_role.ENVIRONMENT),
        (None, {step_role.ENVIRONMENT: "arn:aws:sts::333344445555:assumed-role/r/s"}, step_role.ENVIRONMENT),
    ],
)
def test_a_value_that_is_not_a_role_arn_is_one_line_naming_its_source(flag, environ, source):
    with pytest.raises(step_role.RoleArnError) as error:
        step_role.role_arn(flag, environ)
    assert str(error.value).startswith(f"{source} ") and "is not an IAM role ARN" in str(error.value)
    assert "\n" not in str(error.value)
