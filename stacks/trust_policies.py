"""Confused-deputy conditions on service trust policies, and the allow-list of roles that cannot carry them.

A role a service assumes should trust that service only on behalf of this account's own resources:
`aws:SourceAccount` (and `aws:SourceArn`) in the trust statement. A service that does not send these keys
when it assumes the role would fail AssumeRole (for Lambda: CreateFunction refuses the role), so they are
added only for the services `trust_policies.toml` lists under `[[conditioned]]`, each with the AWS page
that documents them. Every other service role is listed under `[[unconditioned]]` with its reason;
tests/stacks/test_trust_policies.py fails for a role in neither list and for an entry matching no role.

A role trusting another account (stacks/pipeline_access.py) has no service to send those keys: it must name
the exact principals with `aws:PrincipalArn` instead, or every role of that account could assume it
(`cross_account_violations`).

`SourceConditions` is an Aspect over every `CfnRole` of a stage or the pipeline (library roles too, e.g.
CDK Pipelines' and deploy-time-build's CodeBuild roles): one place, not a change per role.
"""

from __future__ import annotations

import fnmatch
import functools
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from constructs import IConstruct

ALLOW_LIST = Path(__file__).resolve().parent / "trust_policies.toml"
SOURCE_KEYS = ("aws:SourceAccount", "aws:SourceArn")


@dataclass(frozen=True)
class Conditioned:
    """A service that sends both keys when it assumes a role; `source_arn` is the ArnLike pattern."""

    service: str
    source_arn: str  # with <AWS::Partition>, <AWS::Region>, <AWS::AccountId> placeholders
    evidence: str


@dataclass(frozen=True)
class Unconditioned:
    """Roles that trust `service` without the keys: the service documents no such keys for them."""

    service: str
    roles: tuple[str, ...]  # "<stack id>/<logical id>" globs
    reason: str
    evidence: str

    def covers(self, role: str, service: str) -> bool:
        return service == self.service and any(fnmatch.fnmatchcase(role, p) for p in self.roles)


@dataclass(frozen=True)
class AllowList:
    conditioned: Mapping[str, Conditioned]
    unconditioned: tuple[Unconditioned, ...]


def _documented(kind: str, raw: Mapping[str, Any], *fields: str) -> None:
    for field in fields:
        if len(str(raw.get(field, "")).strip()) < 40:
            raise ValueError(f"{ALLOW_LIST.name}: {kind} {raw.get('service')} needs a real {field}")


@functools.cache
def allow_list(path: Path = ALLOW_LIST) -> AllowList:
    """The reviewed services and roles; refuses an entry without its evidence, or a service in both lists."""
    data = tomllib.loads(path.read_text())
    conditioned = {}
    for raw in data.get("conditioned", []):
        _documented("conditioned service", raw, "evidence")
        conditioned[raw["service"]] = Conditioned(raw["service"], raw["source_arn"], raw["evidence"].strip())
    unconditioned = []
    for raw in data.get("unconditioned", []):
        _documented("unconditioned service", raw, "reason", "evidence")
        if raw["service"] in conditioned:
            raise ValueError(f"{path.name}: {raw['service']} is both conditioned and unconditioned")
        unconditioned.append(
            Unconditioned(raw["service"], tuple(raw["roles"]), raw["reason"].strip(), raw["evidence"].strip())
        )
    return AllowList(conditioned, tuple(unconditioned))


def services(statement: Mapping[str, Any]) -> list[str]:
    """The service principals an Allow statement of a trust policy lets assume the role."""
    if statement.get("Effect") != "Allow":
        return []
    principal = statement.get("Principal")
    named = principal.get("Service", []) if isinstance(principal, Mapping) else []
    return [s for s in (named if isinstance(named, list) else [named]) if isinstance(s, str)]


def has_source_conditions(statement: Mapping[str, Any]) -> bool:
    """Both keys appear in the statement's conditions (under any operator)."""
    keys = {key for block in (statement.get("Condition") or {}).values() for key in block}
    return all(key in keys for key in SOURCE_KEYS)


def service_trusts(template: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """(logical id, trust statement, service) for every service a role of `template` trusts."""
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        document = resource.get("Properties", {}).get("AssumeRolePolicyDocument", {})
        for statement in document.get("Statement", []):
            for service in services(statement):
                yield logical_id, statement, service


def violations(stack_id: str, template: Mapping[str, Any], allowed: AllowList | None = None) -> list[str]:
    """Service trusts of one template with neither the documented conditions nor an allow-list entry."""
    allowed = allowed or allow_list()
    found = []
    for logical_id, statement, service in service_trusts(template):
        role = f"{stack_id}/{logical_id}"
        if service in allowed.conditioned:
            if not has_source_conditions(statement):
                found.append(f"{role}: trusts {service} without {' and '.join(SOURCE_KEYS)}")
        elif not any(entry.covers(role, service) for entry in allowed.unconditioned):
            found.append(f"{role}: trusts {service}, which is in neither list of {ALLOW_LIST.name}")
    return found


def _accounts(statement: Mapping[str, Any]) -> list[str]:
    """The accounts of the AWS principals an Allow statement of a trust policy names (ARNs or ids)."""
    principal = statement.get("Principal") if statement.get("Effect") == "Allow" else None
    named = principal.get("AWS", []) if isinstance(principal, Mapping) else []
    return [p.split(":")[4] if p.startswith("arn:") else p for p in _strings(named)]


def _strings(value: Any) -> list[str]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]


def cross_account_violations(stack_id: str, template: Mapping[str, Any], account: str) -> list[str]:
    """Roles of `template` (in `account`) that trust another account without an exact aws:PrincipalArn."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        document = resource.get("Properties", {}).get("AssumeRolePolicyDocument", {})
        for statement in document.get("Statement", []):
            if not any(other != account for other in _accounts(statement)):
                continue
            arns = [
                arn
                for block in (statement.get("Condition") or {}).values()
                for arn in _strings(block.get("aws:PrincipalArn", []))
            ]
            if not arns or any("*" in arn for arn in arns):
                found.append(
                    f"{stack_id}/{logical_id}: trusts another account without exact aws:PrincipalArn"
                )
    return found


@jsii.implements(cdk.IAspect)
class SourceConditions:
    """Adds `aws:SourceAccount` and `aws:SourceArn` to every trust statement of a conditioned service."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnRole):
            return
        stack = cdk.Stack.of(node)
        document = stack.resolve(node.assume_role_policy_document)
        for index, statement in enumerate(document.get("Statement", [])):
            rules = [allow_list().conditioned.get(s) for s in services(statement)]
            rules = [rule for rule in rules if rule is not None]
            if not rules or has_source_conditions(statement):
                continue
            if len(rules) > 1:
                raise ValueError(f"{node.node.path}: give each conditioned service its own trust statement")
            node.add_property_override(
                f"AssumeRolePolicyDocument.Statement.{index}.Condition",
                _with_source(statement.get("Condition") or {}, rules[0], stack),
            )


def _with_source(conditions: Mapping[str, Any], rule: Conditioned, stack: cdk.Stack) -> dict[str, Any]:
    """The statement's conditions plus this account (and this account's resources of the service)."""
    source_arn = (
        rule.source_arn.replace("<AWS::Partition>", stack.partition)
        .replace("<AWS::Region>", stack.region)
        .replace("<AWS::AccountId>", stack.account)
    )
    merged = {operator: dict(block) for operator, block in conditions.items()}
    merged.setdefault("StringEquals", {})["aws:SourceAccount"] = stack.account
    merged.setdefault("ArnLike", {})["aws:SourceArn"] = source_arn
    return merged


def apply(scope: IConstruct) -> None:
    """Condition every service role under `scope` (a stage or the pipeline stack)."""
    cdk.Aspects.of(scope).add(SourceConditions(), priority=cdk.AspectPriority.MUTATING)
