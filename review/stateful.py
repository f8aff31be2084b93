"""Stateful resources (data that a replacement or deletion loses) with their removal policy and protection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from review.assembly import Stack
from review.intrinsics import as_list, render

PROTECTED = "DeletionProtectionEnabled"
STATEFUL_TYPES = (
    "AWS::BedrockAgentCore::Memory",
    "AWS::Cognito::UserPool",
    "AWS::DynamoDB::GlobalTable",
    "AWS::DynamoDB::Table",
    "AWS::ECR::Repository",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
)


@dataclass
class StatefulResource:
    stack: str
    logical_id: str
    path: str
    type: str
    deletion_policy: str  # CloudFormation's default is Delete
    update_replace_policy: str
    protection: str  # what else keeps the data when the stack or resource goes, "" when nothing

    @property
    def retained(self) -> bool:
        return self.deletion_policy in ("Retain", "RetainExceptOnCreate", "Snapshot")


def _protection(kind: str, properties: dict[str, Any]) -> str:
    if kind == "AWS::Cognito::UserPool":
        return f"DeletionProtection={properties.get('DeletionProtection', 'INACTIVE')}"
    if kind == "AWS::DynamoDB::Table":
        return f"DeletionProtectionEnabled={properties.get('DeletionProtectionEnabled', False)}"
    if kind == "AWS::DynamoDB::GlobalTable":
        replicas = as_list(properties.get("Replicas"))
        return ", ".join(
            f"{render(r.get('Region', '?'))}: DeletionProtectionEnabled={r.get(PROTECTED, False)}"
            for r in replicas
        )
    if kind == "AWS::ECR::Repository":
        return f"EmptyOnDelete={properties.get('EmptyOnDelete', False)}"
    if kind == "AWS::KMS::Key":
        return f"PendingWindowInDays={properties.get('PendingWindowInDays', 30)}"
    if kind == "AWS::Logs::LogGroup" and "DeletionProtectionEnabled" in properties:
        return f"DeletionProtectionEnabled={properties['DeletionProtectionEnabled']}"
    return ""


def stateful_resources(stack: Stack) -> list[StatefulResource]:
    found = []
    for logical_id, resource in stack.resources.items():
        kind = resource.get("Type", "")
        if kind not in STATEFUL_TYPES:
            continue
        found.append(
            StatefulResource(
                stack=stack.id,
                logical_id=logical_id,
                path=stack.paths.get(logical_id, logical_id),
                type=kind,
                deletion_policy=resource.get("DeletionPolicy", "Delete"),
                update_replace_policy=resource.get("UpdateReplacePolicy", "Delete"),
                protection=_protection(kind, resource.get("Properties", {})),
            )
        )
    return found
