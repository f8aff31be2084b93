"""Compliance gates: the cdk-nag packs every stage is checked against, and the acknowledgment helpers.

An unacknowledged finding fails `cdk synth`. Each stack acknowledges its own findings beside the construct
that causes them, through the helpers here; each acknowledgment names one rule (or one exact IAM5 finding),
is attached to the narrowest construct and says why it is acceptable; nothing is acknowledged for a whole
stack, stage or app. This module imports no stack.

Wildcard grants (AwsSolutions-IAM5) are explained once, in `iam_wildcards.toml`: `acknowledge_policy`
acknowledges the findings of the listed statements only and fails synth for any other wildcard statement
in that policy, even one whose cdk-nag finding id (e.g. `Resource::*`) is already acknowledged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import aws_cdk as cdk
import jsii
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks, ServerlessChecks
from constructs import IConstruct, IValidation

from stacks import iam_wildcards

MIN_REASON_CHARS = 40
ACKNOWLEDGED = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY

INLINE_POLICY = (
    "CDK grants write one policy per role, scoped to this stage's resources; a customer-managed policy "
    "would only move the same statements and could be attached to other roles by mistake."
)
BASIC_EXECUTION_ROLE = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# The singleton handler behind every AwsCustomResource in a stack (CDK's fixed id).
AWS_CUSTOM_RESOURCE_PROVIDER = "AWS679f53fac002430cb0da5b7982bd2287"
# A library's custom resource handler: child path -> {rule: reason}.
PROVIDER_FUNCTION: dict[str, dict[str, str]] = {
    "ServiceRole": {
        f"AwsSolutions-IAM4[Policy::{BASIC_EXECUTION_ROLE}]": (
            "Library-owned custom resource handler: the AWS managed basic execution policy only lets it "
            "write its own CloudWatch logs."
        ),
    },
    "LogGroup/Resource": {
        "NIST.800.53.R5-CloudWatchLogGroupEncrypted": (
            "Holds only the deploy-time handler's own start/stop logs (no user data); CloudWatch encrypts it."
        ),
    },
    "Resource": {
        "AwsSolutions-L1": "Library-owned custom resource handler; its runtime is pinned by the library.",
        "Serverless-LambdaDefaultMemorySize": "Deploy-time handler, run a few times per deploy.",
        "Serverless-LambdaDLQ": "Invoked synchronously by CloudFormation, which reports failures.",
        "Serverless-LambdaLatestVersion": "Runtime version is pinned by the library that owns this handler.",
        "Serverless-LambdaTracing": "Deploy-time custom resource handler; CloudFormation events trace it.",
        "NIST.800.53.R5-LambdaConcurrency": "Runs only during deployments, bounded by CloudFormation.",
        "NIST.800.53.R5-LambdaDLQ": "Invoked synchronously by CloudFormation, which reports failures.",
        "NIST.800.53.R5-LambdaInsideVPC": "Calls only AWS control-plane APIs during deploys.",
    },
}


def add_packs(app: cdk.App) -> None:
    """AwsSolutions, Serverless and NIST 800-53 R5 over every stack of every stage."""
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app), ServerlessChecks(app), NIST80053R5Checks(app)
    )


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one rule on one construct, refusing blanket scopes and empty reasons."""
    if isinstance(construct, cdk.Stack | cdk.Stage | cdk.App):
        raise ValueError(f"{rule}: acknowledge on the construct that causes it, not on {construct.node.path}")
    if len(reason.strip()) < MIN_REASON_CHARS:
        raise ValueError(f"{rule} on {construct.node.path}: give a reason a reviewer would accept")
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def acknowledge_all(construct: IConstruct, rules: dict[str, str]) -> None:
    """Several rules on one construct, each with its own reason."""
    for rule, reason in rules.items():
        acknowledge(construct, rule, reason)


def policy_of(grantable: IConstruct) -> cdk.CfnResource:
    """The L1 policy CDK grants write to on a role (or on a function's, project's, ... role)."""
    role = grantable.role if hasattr(grantable, "role") and grantable.role is not None else grantable
    return role.node.find_child("DefaultPolicy").node.default_child


def policy_key(policy: cdk.CfnResource) -> str:
    """How `iam_wildcards.toml` names a policy: `<stack id>/<logical id>` (the same in every stage)."""
    stack = cdk.Stack.of(policy)
    return f"{stack.node.id}/{stack.get_logical_id(policy)}"


def _localize(stack: cdk.Stack, finding: str) -> str:
    """An allow-list finding as cdk-nag reports it in `stack` (its literal region and account)."""
    if not cdk.Token.is_unresolved(stack.region):
        finding = finding.replace(iam_wildcards.REGION, stack.region)
    if not cdk.Token.is_unresolved(stack.account):
        finding = finding.replace(iam_wildcards.ACCOUNT, stack.account)
    return finding


@jsii.implements(IValidation)
class _WildcardsListed:
    """At synth, when the policy is complete: acknowledge the IAM5 findings of the wildcard statements the
    allow-list names, and fail for any other wildcard statement (a new finding, even where cdk-nag's id,
    e.g. `Resource::*`, is one already acknowledged for another statement)."""

    def __init__(self, policy: cdk.CfnResource) -> None:
        self._policy = policy
        self._acknowledged = False

    def validate(self) -> list[str]:
        stack = cdk.Stack.of(self._policy)
        document = stack.resolve(self._policy.policy_document)
        found = iam_wildcards.statements(
            policy_key(self._policy), document, region=stack.region, account=stack.account
        )
        reasons: dict[str, list[str]] = {}
        errors = []
        for statement in found:
            entry = iam_wildcards.entry_for(statement)
            if entry is None:
                errors.append(
                    f"AwsSolutions-IAM5: {statement.describe()} is not in {iam_wildcards.ALLOW_LIST.name}; "
                    "scope it or add it there with a reason"
                )
                continue
            for finding in statement.findings:
                reasons.setdefault(_localize(stack, finding), []).append(entry.reason)
        if not self._acknowledged:
            self._acknowledged = True
            for finding, why in reasons.items():
                acknowledge(self._policy, f"AwsSolutions-IAM5[{finding}]", " / ".join(dict.fromkeys(why)))
        return errors


def acknowledge_policy(policy: cdk.CfnResource | IConstruct) -> None:
    """One IAM policy: inline by design, with only the wildcard statements the allow-list names.

    Accepts the L1 policy or anything with a role (role, function, project) whose default policy it is.
    """
    if not isinstance(policy, cdk.CfnResource):
        policy = policy_of(policy)
    acknowledge(policy, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY)
    policy.node.add_validation(_WildcardsListed(policy))


def child(scope: IConstruct, id_prefix: str) -> IConstruct:
    """A construct a library adds under a generated id (e.g. a singleton provider function)."""
    matches = [c for c in scope.node.children if c.node.id.startswith(id_prefix)]
    if len(matches) != 1:
        raise LookupError(f"expected one child of {scope.node.path} named {id_prefix}*, found {len(matches)}")
    return matches[0]


def at(root: IConstruct, path: str) -> IConstruct:
    """The construct at `path` below `root` (a library's layout, named where we rely on it)."""
    node = root
    for part in path.split("/"):
        node = node.node.find_child(part)
    return node


def acknowledge_provider_function(function: IConstruct) -> None:
    """A library's deploy-time custom resource Lambda: we cannot change it, so every finding is explained."""
    for path, rules in PROVIDER_FUNCTION.items():
        target: IConstruct | None = function
        for part in path.split("/"):
            target = target.node.try_find_child(part) if target else None
        if target is None:
            raise LookupError(f"{function.node.path}/{path} not found: did the library change its layout?")
        acknowledge_all(target, rules)
    role = function.node.find_child("ServiceRole")
    if role.node.try_find_child("DefaultPolicy") is not None:  # only when the handler got grants
        acknowledge_policy(role)


def acknowledge_aws_custom_resources(stack: cdk.Stack) -> None:
    """The singleton Lambda behind a stack's AwsCustomResources (call once per stack, after adding them)."""
    acknowledge_provider_function(child(stack, AWS_CUSTOM_RESOURCE_PROVIDER))


def acknowledge_custom_resource_policy(resource: IConstruct) -> None:
    """The inline policy an AwsCustomResource writes for its SDK calls."""
    acknowledge_policy(resource.node.find_child("CustomResourcePolicy").node.default_child)


def acknowledgments(scope: IConstruct) -> Iterator[tuple[str, str, str]]:
    """Every acknowledgment under `scope` as (construct path, rule, reason), from the construct tree."""
    for construct in scope.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACKNOWLEDGED:
                for rule, reason in entry.data.items():
                    yield construct.node.path, rule.removeprefix("Annotation::"), reason


def assembly_acknowledgments(outdir: Path) -> Iterator[tuple[str, str, str]]:
    """Every acknowledgment of a synthesized cloud assembly (e.g. `cdk.out`), from its metadata files.

    The one list a reviewer reads: (construct path, rule, reason) for every stack of every stage.
    """
    for path in sorted(Path(outdir).glob("**/*.metadata.json")):
        for construct_path, entries in json.loads(path.read_text()).items():
            for entry in entries:
                if entry["type"] == ACKNOWLEDGED:
                    for rule, reason in entry["data"].items():
                        yield construct_path, rule.removeprefix("Annotation::"), reason
