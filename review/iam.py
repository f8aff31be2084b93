"""Every IAM role and policy of a stack: trust, identity, managed and resource policies, wildcards marked.

Read from the templates, so what a library or a grant added is shown exactly as CloudFormation will get it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from review.assembly import Stack
from review.intrinsics import as_list, render

# Resource types whose policy document property grants access to the resource itself.
RESOURCE_POLICIES = {
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::Logs::ResourcePolicy": "PolicyDocument",
    "AWS::ECR::Repository": "RepositoryPolicyText",
    "AWS::SecretsManager::ResourcePolicy": "ResourcePolicy",
    "AWS::DynamoDB::Table": "ResourcePolicy",
    # stacks/transaction_search.py's `adopt` mode writes the X-Ray -> aws/spans Logs policy from its handler.
    "Custom::TransactionSearch": "LogsPolicyDocument",
}


@dataclass
class Statement:
    effect: str
    principals: list[str]
    actions: list[str]
    resources: list[str]
    conditions: str  # rendered JSON, "" when none
    not_actions: bool = False

    @property
    def wildcard_actions(self) -> list[str]:
        return [action for action in self.actions if "*" in action]

    @property
    def wildcard_resources(self) -> list[str]:
        return [resource for resource in self.resources if "*" in resource]

    @property
    def wildcard_principals(self) -> list[str]:
        return [principal for principal in self.principals if principal.endswith("*")]

    @property
    def has_wildcard(self) -> bool:
        allow = self.effect == "Allow"
        return allow and bool(
            self.wildcard_actions or self.wildcard_resources or self.wildcard_principals or self.not_actions
        )


@dataclass
class Policy:
    """One policy document, where it lives, and what it applies to."""

    kind: str  # trust | identity | managed | resource | permission
    name: str  # construct path (or logical id) of the resource holding it
    attached_to: list[str]
    statements: list[Statement] = field(default_factory=list)
    managed_arns: list[str] = field(default_factory=list)


@dataclass
class Role:
    logical_id: str
    path: str
    trust: list[Statement]
    policies: list[Policy]
    managed_arns: list[str]


def _principals(raw: Any) -> list[str]:
    if raw is None:
        return []
    if raw == "*":
        return ["*"]
    if isinstance(raw, dict):
        return [f"{kind}:{render(value)}" for kind, values in raw.items() for value in as_list(values)]
    return [render(raw)]


def render_conditions(condition: Any) -> str:
    """`StringEquals aws:SourceAccount = ${AWS::AccountId}; ...` (operator, key, rendered values)."""
    if not isinstance(condition, dict):
        return "" if condition is None else render(condition)
    parts = []
    for operator, tests in sorted(condition.items()):
        if not isinstance(tests, dict):
            parts.append(f"{operator} {render(tests)}")
            continue
        for key, values in sorted(tests.items()):
            parts.append(f"{operator} {key} = {', '.join(render(v) for v in as_list(values))}")
    return "; ".join(parts)


def statements(document: Any) -> list[Statement]:
    if isinstance(document, dict) and len(document) == 1 and next(iter(document)).startswith("Fn::"):
        document = render(document)  # JSON text joined with intrinsics (a Logs resource policy's document)
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    if not isinstance(document, dict):
        return []
    result = []
    for raw in as_list(document.get("Statement")):
        actions = raw.get("Action", raw.get("NotAction"))
        resources = raw.get("Resource", raw.get("NotResource"))
        condition = raw.get("Condition")
        result.append(
            Statement(
                effect=raw.get("Effect", "Allow"),
                principals=_principals(raw.get("Principal", raw.get("NotPrincipal"))),
                actions=[render(a) for a in as_list(actions)],
                resources=[render(r) for r in as_list(resources)],
                conditions=render_conditions(condition),
                not_actions="NotAction" in raw,
            )
        )
    return result


def _refs(values: Any) -> list[str]:
    return [v["Ref"] if isinstance(v, dict) and "Ref" in v else render(v) for v in as_list(values)]


def roles(stack: Stack) -> list[Role]:
    """Each role with its trust policy, inline policies, attached policies and managed policy ARNs."""
    found = {}
    for logical_id, resource in stack.resources.items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        properties = resource.get("Properties", {})
        path = stack.paths.get(logical_id, logical_id)
        inline = [
            Policy("identity", f"{path} ({p.get('PolicyName', 'inline')})", [logical_id],
                   statements(p.get("PolicyDocument")))
            for p in as_list(properties.get("Policies"))
        ]  # fmt: skip
        found[logical_id] = Role(
            logical_id=logical_id,
            path=path,
            trust=statements(properties.get("AssumeRolePolicyDocument")),
            policies=inline,
            managed_arns=[render(arn) for arn in as_list(properties.get("ManagedPolicyArns"))],
        )
    for policy in policies(stack):
        for target in policy.attached_to:
            if target in found and policy.kind in ("identity", "managed"):
                found[target].policies.append(policy)
    return list(found.values())


def policies(stack: Stack) -> list[Policy]:
    """Stand-alone identity and managed policies, resource policies and Lambda permissions."""
    result = []
    for logical_id, resource in stack.resources.items():
        kind, properties = resource.get("Type"), resource.get("Properties", {})
        path = stack.paths.get(logical_id, logical_id)
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            result.append(
                Policy(
                    "identity" if kind == "AWS::IAM::Policy" else "managed",
                    path,
                    _refs(properties.get("Roles"))
                    + _refs(properties.get("Users"))
                    + _refs(properties.get("Groups")),
                    statements(properties.get("PolicyDocument")),
                )
            )
        elif kind in RESOURCE_POLICIES and RESOURCE_POLICIES[kind] in properties:
            target = properties.get("Bucket") or properties.get("Topics") or properties.get("Queues")
            result.append(
                Policy("resource", path, _refs(target) if target else [logical_id],
                       statements(properties[RESOURCE_POLICIES[kind]]))
            )  # fmt: skip
        elif kind == "AWS::Lambda::Permission":
            condition = "; ".join(
                f"{key} = {render(properties[key])}"
                for key in ("SourceArn", "SourceAccount")
                if key in properties
            )
            permission = Statement(
                effect="Allow",
                principals=[render(properties.get("Principal"))],
                actions=[render(properties.get("Action"))],
                resources=[render(properties.get("FunctionName"))],
                conditions=condition,
            )
            result.append(Policy("permission", path, _refs(properties.get("FunctionName")), [permission]))
    return result
