"""Preflight: check a stage's target account for what the known first-deploy failures depend on.

`make preflight STAGE=<name>` (and the pipeline, before each stage). One line per check; each problem names
its fix, and any problem exits 1. Read-only calls only, with the caller's credentials in the stage's region:
- Transaction Search already on, where the stage would create it (AlreadyExists);
- Bedrock access to the stage's model (and its inference profile);
- the region offers every AgentCore resource type the stages deploy;
- quota headroom for gateways and memories (Service Quotas vs what exists), and the active-session quota;
- name collisions: a runtime, gateway or memory of this stage's name that its own stack did not create;
- the AgentCore service-linked role (a note: AgentCore creates it at the first deploy).
Quota names are matched by their wording in Service Quotas (see QUOTAS); confirm them in a real account.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from stacks.bedrock_models import split_model_id  # noqa: E402
from stacks.config import ConfigError, StageConfig, load_stages, regions_offering  # noqa: E402

AGENTCORE_TYPES = (
    "AWS::BedrockAgentCore::Runtime",
    "AWS::BedrockAgentCore::Gateway",
    "AWS::BedrockAgentCore::Memory",
)
SERVICE_LINKED_ROLE = "AWSServiceRoleForBedrockAgentCoreRuntimeIdentity"
# Service Quotas names (service code bedrock-agentcore) -> what the stage adds of it.
QUOTAS = {
    "gateways": re.compile(r"gateways? per account", re.IGNORECASE),
    "memories": re.compile(r"memor(y|ies) (resources )?per account", re.IGNORECASE),
    "active sessions": re.compile(r"active session", re.IGNORECASE),
}


@dataclass(frozen=True)
class Finding:
    check: str
    text: str
    problem: bool = False

    def line(self) -> str:
        return f"{'FAIL' if self.problem else 'ok  '} {self.check}: {self.text}"


class Clients:
    """boto3 clients of the stage's region, made once each (tests hand in stubbed ones)."""

    def __init__(
        self, region: str, make: Callable[..., Any] | None = None, *, role_arn: str | None = None
    ) -> None:
        if make is None:
            import boto3

            session = boto3.session.Session(region_name=region)
            if role_arn:  # the pipeline: the stage account's read-only CDK lookup role
                credentials = session.client("sts").assume_role(
                    RoleArn=role_arn, RoleSessionName="agentcore-preflight"
                )["Credentials"]
                session = boto3.session.Session(
                    region_name=region,
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                )
            make = session.client
        self._make, self._clients = make, {}

    def __getattr__(self, service: str) -> Any:
        name = service.replace("_", "-")
        if name not in self._clients:
            self._clients[name] = self._make(name)
        return self._clients[name]


def _pages(call: Callable[..., dict], key: str, **params: Any) -> Iterator[dict]:
    token = None
    while True:
        page = call(**params, **({"nextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


def transaction_search(config: StageConfig, aws: Clients) -> Iterator[Finding]:
    destination = aws.xray.get_trace_segment_destination()
    on = destination.get("Destination") == "CloudWatchLogs" and destination.get("Status") == "ACTIVE"
    if on and config.owns_account_resources and config.transaction_search == "create":
        yield Finding(
            "transaction search",
            "already on in this account and region, and the stage would create it (AlreadyExists); "
            'fix: set "transaction_search": "adopt" (or "existing") for this stage',
            problem=True,
        )
    else:
        yield Finding("transaction search", "on" if on else "off (the stage that owns it turns it on)")


def model_access(config: StageConfig, aws: Clients) -> Iterator[Finding]:
    if config.model_provider != "bedrock":
        yield Finding("model access", f"model provider {config.model_provider}: no Bedrock model to check")
        return
    geography, foundation_id = split_model_id(config.model_id)
    if geography is not None:
        try:
            aws.bedrock.get_inference_profile(inferenceProfileIdentifier=config.model_id)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            yield Finding(
                "model access",
                f"inference profile {config.model_id} does not exist in {config.region}; "
                "fix: choose a profile id listed by `aws bedrock list-inference-profiles`",
                problem=True,
            )
            return
    availability = aws.bedrock.get_foundation_model_availability(modelId=foundation_id)
    missing = [
        field
        for field, good in (
            ("authorizationStatus", "AUTHORIZED"),
            ("entitlementAvailability", "AVAILABLE"),
            ("regionAvailability", "AVAILABLE"),
            ("agreementAvailability", "AVAILABLE"),
        )
        if _status(availability.get(field)) not in (good, None)
    ]
    if missing:
        yield Finding(
            "model access",
            f"{foundation_id} is not usable here ({', '.join(missing)}); fix: enable access to it in the "
            f"Bedrock console (Model access) in {config.region}, or choose another model_id",
            problem=True,
        )
    else:
        yield Finding("model access", f"{config.model_id} available")


def _status(value: Any) -> str | None:
    """Availability fields are strings, or (agreementAvailability) an object with a `status`."""
    return value.get("status") if isinstance(value, dict) else value


def region_support(config: StageConfig, _aws: Clients) -> Iterator[Finding]:
    if config.region in regions_offering(AGENTCORE_TYPES):
        yield Finding(
            "region", f"{config.region} offers {', '.join(t.split('::')[-1] for t in AGENTCORE_TYPES)}"
        )
    else:
        yield Finding(
            "region",
            f"{config.region} does not offer every AgentCore resource type; fix: set the stage's region "
            "to one that does (see README, Configure stages)",
            problem=True,
        )


def quotas(config: StageConfig, aws: Clients) -> Iterator[Finding]:
    values = {}
    for quota in _pages_upper(aws.service_quotas.list_service_quotas, ServiceCode="bedrock-agentcore"):
        for what, pattern in QUOTAS.items():
            if pattern.search(quota["QuotaName"]) and what not in values:
                values[what] = quota
    control = aws.bedrock_agentcore_control
    used = {
        "gateways": [g["name"] for g in _pages(control.list_gateways, "items")],
        "memories": [m["id"] for m in _pages(control.list_memories, "memories")],
    }
    own = {"gateways": _is_gateway(config), "memories": _is_memory(config)}
    for what in QUOTAS:
        quota = values.get(what)
        if quota is None:
            yield Finding("quota", f"{what}: not found in Service Quotas (check by hand)")
            continue
        limit = int(quota["Value"])
        if what not in used:
            yield Finding("quota", f"{what}: {limit} per account ({quota['QuotaName']})")
            continue
        needed = len(used[what]) + (0 if any(own[what](name) for name in used[what]) else 1)
        text = f"{what}: {needed} of {limit} after this deploy"
        if needed > limit:
            yield Finding(
                "quota",
                f"{text}; fix: request an increase of '{quota['QuotaName']}' ({quota['QuotaCode']}) in "
                "Service Quotas, or remove unused ones",
                problem=True,
            )
        else:
            yield Finding("quota", text)


def _pages_upper(call: Callable[..., dict], **params: Any) -> Iterator[dict]:
    """Service Quotas pages with `NextToken` (capitalized, unlike AgentCore's)."""
    token = None
    while True:
        page = call(**params, **({"NextToken": token} if token else {}))
        yield from page.get("Quotas", [])
        token = page.get("NextToken")
        if not token:
            return


def _is_gateway(config: StageConfig) -> Callable[[str], bool]:
    return lambda name: name == config.dns_name("gateway")


def _is_memory(config: StageConfig) -> Callable[[str], bool]:
    return lambda memory_id: memory_id.startswith(f"{config.resource_name('memory')}-")


def collisions(config: StageConfig, aws: Clients) -> Iterator[Finding]:
    control = aws.bedrock_agentcore_control
    found = {
        "Runtime": any(
            r["agentRuntimeName"] == config.resource_name("agent")
            for r in _pages(control.list_agent_runtimes, "agentRuntimes")
        ),
        "Gateway": any(_is_gateway(config)(g["name"]) for g in _pages(control.list_gateways, "items")),
        "Memory": any(_is_memory(config)(m["id"]) for m in _pages(control.list_memories, "memories")),
    }
    clashes = [
        stack
        for stack, exists in found.items()
        if exists and not _stack_exists(aws, f"{config.name}-{stack}")
    ]
    if clashes:
        yield Finding(
            "names",
            f"{', '.join(clashes)} of this stage's name exist but not their stacks "
            f"({config.name}-{clashes[0]}); "
            'fix: delete the leftovers, or set another "agentcore:project" in cdk.json',
            problem=True,
        )
    else:
        yield Finding("names", "no AgentCore resource of this stage's names outside its stacks")


def _stack_exists(aws: Clients, name: str) -> bool:
    try:
        stacks = aws.cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in error.response["Error"].get("Message", ""):
            return False
        raise
    return any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks)


def service_linked_role(_config: StageConfig, aws: Clients) -> Iterator[Finding]:
    try:
        aws.iam.get_role(RoleName=SERVICE_LINKED_ROLE)
        yield Finding("service-linked role", f"{SERVICE_LINKED_ROLE} exists")
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchEntity":
            raise
        yield Finding(
            "service-linked role",
            f"{SERVICE_LINKED_ROLE} not yet created: AgentCore creates it at the first deploy, so the "
            "deploying role needs iam:CreateServiceLinkedRole (CDK's bootstrap deploy role has it)",
        )


CHECKS = (transaction_search, model_access, region_support, quotas, collisions, service_linked_role)


def preflight(config: StageConfig, aws: Clients) -> list[Finding]:
    """Every check's findings; a check the caller may not run is one problem line naming the denied call."""
    findings = []
    for check in CHECKS:
        name = check.__name__.replace("_", " ")
        try:
            findings += list(check(config, aws))
        except ClientError as error:
            err = error.response["Error"]
            findings.append(
                Finding(
                    name,
                    f"could not check ({err.get('Code')}: {err.get('Message', '')}); fix: run preflight with "
                    f"credentials that may call {error.operation_name} in {config.region}",
                    problem=True,
                )
            )
        except BotoCoreError as error:
            findings.append(
                Finding(name, f"could not check ({error}); fix: set AWS credentials", problem=True)
            )
    return findings


def stage_config(name: str, cdk_json: Path = ROOT / "cdk.json") -> StageConfig:
    configs = load_stages(json.loads(cdk_json.read_text())["context"])
    chosen = [config for config in configs if config.name == name]
    if not chosen:
        raise ConfigError(f"no stage '{name}' (configured: {', '.join(c.name for c in configs)})")
    return chosen[0]


def main(argv: Sequence[str] | None = None, make_client: Callable[..., Any] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, help="a stage of cdk.json (agentcore:stages)")
    parser.add_argument(
        "--assume-role", help="check as this role (the pipeline: the stage's CDK lookup role)"
    )
    args = parser.parse_args(argv)
    try:
        config = stage_config(args.stage)
    except ConfigError as error:
        print(f"preflight: config error: {error}", file=sys.stderr)
        return 2
    try:
        findings = preflight(config, Clients(config.region, make_client, role_arn=args.assume_role))
    except (ClientError, BotoCoreError) as error:
        print(f"preflight: cannot assume {args.assume_role}: {error}", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding.line())
    problems = sum(f.problem for f in findings)
    print(
        f"preflight {config.name}: {problems} problem(s)" if problems else f"preflight {config.name}: ready"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
