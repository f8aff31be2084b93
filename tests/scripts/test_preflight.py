"""scripts/preflight.py against stubbed AWS clients (botocore's Stubber: real service models, so every request
and response is checked against the API's shapes), for a healthy account and for each known problem."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from scripts import preflight

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
FOUNDATION = "anthropic.claude-sonnet-4-20250514-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + MODEL


class StubbedClients:
    """Real boto3 clients (dummy credentials, no network) with a Stubber each; `make` hands them out."""

    def __init__(self) -> None:
        self.clients, self.stubbers = {}, {}

    def make(self, service: str):
        if service not in self.clients:
            client = boto3.client(
                service, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
            )
            self.clients[service], self.stubbers[service] = client, Stubber(client)
            self.stubbers[service].activate()
        return self.clients[service]

    def respond(self, service: str, operation: str, response: dict, params: dict | None = None) -> None:
        self.make(service)
        self.stubbers[service].add_response(operation, response, params)

    def fail(self, service: str, operation: str, code: str, message: str = "", status: int = 400) -> None:
        self.make(service)
        self.stubbers[service].add_client_error(operation, code, message, status)

    def assert_all_called(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


def _quota(name: str, code: str, value: float) -> dict:
    return {"ServiceCode": "bedrock-agentcore", "QuotaName": name, "QuotaCode": code, "Value": value}


QUOTAS = [
    _quota("Gateways per account", "L-GW", 2),
    _quota("Memory resources per account", "L-MEM", 150),
    _quota("Active session workloads per account", "L-SESS", 5000),
]
EXISTING_GATEWAY = {
    "gatewayId": "other-gw-0123456789",
    "name": "someone-else",
    "status": "READY",
    "createdAt": "2026-01-01T00:00:00Z",
    "updatedAt": "2026-01-01T00:00:00Z",
    "authorizerType": "CUSTOM_JWT",
    "protocolType": "MCP",
}


def _healthy(aws: StubbedClients, *, gateways=(), runtimes=(), quotas=QUOTAS, destination="CloudWatchLogs"):
    """The responses of an account ready for the dev stage, in the order the checks call."""
    aws.respond("xray", "get_trace_segment_destination", {"Destination": destination, "Status": "ACTIVE"})
    aws.respond(
        "bedrock",
        "get_inference_profile",
        {
            "inferenceProfileName": MODEL,
            "inferenceProfileArn": PROFILE_ARN,
            "models": [{"modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{FOUNDATION}"}],
            "inferenceProfileId": MODEL,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        },
        {"inferenceProfileIdentifier": MODEL},
    )
    aws.respond(
        "bedrock",
        "get_foundation_model_availability",
        {
            "modelId": FOUNDATION,
            "agreementAvailability": {"status": "AVAILABLE"},
            "authorizationStatus": "AUTHORIZED",
            "entitlementAvailability": "AVAILABLE",
            "regionAvailability": "AVAILABLE",
        },
        {"modelId": FOUNDATION},
    )
    aws.respond(
        "service-quotas",
        "list_service_quotas",
        {"Quotas": list(quotas)},
        {"ServiceCode": "bedrock-agentcore"},
    )
    aws.respond("bedrock-agentcore-control", "list_gateways", {"items": list(gateways)})
    aws.respond("bedrock-agentcore-control", "list_memories", {"memories": []})
    aws.respond("bedrock-agentcore-control", "list_agent_runtimes", {"agentRuntimes": list(runtimes)})
    aws.respond("bedrock-agentcore-control", "list_gateways", {"items": list(gateways)})
    aws.respond("bedrock-agentcore-control", "list_memories", {"memories": []})


def _run(aws: StubbedClients, capsys, stage: str = "dev") -> tuple[int, list[str]]:
    code = preflight.main(["--stage", stage], make_client=aws.make)
    aws.assert_all_called()
    return code, capsys.readouterr().out.splitlines()


def test_a_ready_account_passes_every_check(capsys):
    aws = StubbedClients()
    _healthy(aws, gateways=[EXISTING_GATEWAY])
    aws.respond("iam", "get_role", _role(), {"RoleName": preflight.SERVICE_LINKED_ROLE})
    code, lines = _run(aws, capsys)
    assert code == 0, lines
    checks = [line.split(":")[0] for line in lines[:-1]]
    assert checks == [
        "ok   transaction search",
        "ok   model access",
        "ok   region",
        "ok   quota",
        "ok   quota",
        "ok   quota",
        "ok   names",
        "ok   service-linked role",
    ]
    assert "ok   quota: gateways: 2 of 2 after this deploy" in lines
    assert lines[-1] == "preflight dev: ready"


def _role() -> dict:
    return {
        "Role": {
            "Path": "/aws-service-role/",
            "RoleName": preflight.SERVICE_LINKED_ROLE,
            "RoleId": "AROAEXAMPLEEXAMPLE123",
            "Arn": f"arn:aws:iam::123456789012:role/aws-service-role/{preflight.SERVICE_LINKED_ROLE}",
            "CreateDate": "2026-01-01T00:00:00Z",
        }
    }


def test_each_problem_is_one_line_with_its_fix_and_exits_non_zero(capsys):
    aws = StubbedClients()
    runtime = {
        "agentRuntimeArn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agentcore_dev_agent-x1",
        "agentRuntimeId": "agentcore_dev_agent-x1",
        "agentRuntimeVersion": "1",
        "agentRuntimeName": "agentcore_dev_agent",
        "description": "left over",
        "lastUpdatedAt": "2026-01-01T00:00:00Z",
        "status": "READY",
    }
    full = [EXISTING_GATEWAY, {**EXISTING_GATEWAY, "gatewayId": "gw-2", "name": "another"}]
    _healthy(aws, gateways=full, runtimes=[runtime])
    aws.fail(
        "cloudformation", "describe_stacks", "ValidationError", "Stack with id dev-Runtime does not exist"
    )
    aws.fail("iam", "get_role", "NoSuchEntity", "not found", 404)
    code, lines = _run(aws, capsys)
    assert code == 1
    failures = [line for line in lines if line.startswith("FAIL")]
    assert failures == [
        "FAIL quota: gateways: 3 of 2 after this deploy; fix: request an increase of 'Gateways per account' "
        "(L-GW) in Service Quotas, or remove unused ones",
        "FAIL names: Runtime of this stage's name exist but not their stacks (dev-Runtime); fix: delete the "
        'leftovers, or set another "agentcore:project" in cdk.json',
    ]
    assert any(
        line.startswith("ok   service-linked role: ") and "iam:CreateServiceLinkedRole" in line
        for line in lines
    )
    assert lines[-1] == "preflight dev: 2 problem(s)"


def test_transaction_search_already_on_fails_a_stage_that_would_create_it(capsys, monkeypatch):
    config = preflight.stage_config("dev")
    creating = type(config)(**{**config.__dict__, "transaction_search": "create"})
    aws = StubbedClients()
    aws.respond(
        "xray", "get_trace_segment_destination", {"Destination": "CloudWatchLogs", "Status": "ACTIVE"}
    )
    (finding,) = preflight.transaction_search(creating, preflight.Clients("us-east-1", aws.make))
    assert finding.problem and '"transaction_search": "adopt"' in finding.text


def test_a_model_without_access_and_a_missing_profile_name_their_fix():
    config = preflight.stage_config("dev")
    aws = StubbedClients()
    aws.respond("bedrock", "get_inference_profile", {
        "inferenceProfileName": MODEL, "inferenceProfileArn": PROFILE_ARN,
        "models": [{"modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{FOUNDATION}"}],
        "inferenceProfileId": MODEL, "status": "ACTIVE", "type": "SYSTEM_DEFINED",
    })  # fmt: skip
    aws.respond("bedrock", "get_foundation_model_availability", {
        "modelId": FOUNDATION, "agreementAvailability": {"status": "NOT_AVAILABLE"},
        "authorizationStatus": "NOT_AUTHORIZED", "entitlementAvailability": "AVAILABLE",
        "regionAvailability": "AVAILABLE",
    })  # fmt: skip
    aws.fail("bedrock", "get_inference_profile", "ResourceNotFoundException", "no such profile", 404)
    clients = preflight.Clients("us-east-1", aws.make)
    (denied,) = preflight.model_access(config, clients)
    assert denied.problem and "(authorizationStatus, agreementAvailability)" in denied.text
    assert "Model access" in denied.text
    (missing,) = preflight.model_access(config, clients)
    assert missing.problem and f"inference profile {MODEL} does not exist in us-east-1" in missing.text


def test_a_call_the_caller_may_not_make_is_a_problem_naming_it(capsys):
    aws = StubbedClients()
    aws.fail("xray", "get_trace_segment_destination", "AccessDeniedException", "not authorized", 403)
    config = preflight.stage_config("dev")
    findings = [f for f in preflight.preflight(config, preflight.Clients("us-east-1", aws.make))][:1]
    assert findings[0].problem
    assert findings[0].line().startswith("FAIL transaction search: could not check (AccessDeniedException")
    assert "GetTraceSegmentDestination" in findings[0].text


def test_an_unknown_stage_is_one_line_and_exit_2(capsys):
    assert preflight.main(["--stage", "nope"]) == 2
    assert capsys.readouterr().err.strip().startswith("preflight: config error: no stage 'nope'")
