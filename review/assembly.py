"""Reads a cloud assembly (`cdk.out`): its stages (nested assemblies), their stacks, templates, metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

STACK_TYPE = "aws:cloudformation:stack"
NESTED_TYPE = "cdk:cloud-assembly"
APP_STAGE = "(app)"  # stacks defined directly on the app, e.g. the pipeline


class AssemblyError(ValueError):
    """The directory is not a readable cloud assembly; the message is one line for the operator."""


@dataclass
class Stack:
    """One stack artifact: `id` is stable across synths (`dev/Gateway`), `name` is the CloudFormation name."""

    id: str
    name: str
    stage: str
    region: str
    template_path: Path
    metadata: dict[str, list[dict[str, Any]]]
    dependencies: list[str] = field(default_factory=list)  # ids of stacks this one deploys after

    @cached_property
    def template(self) -> dict[str, Any]:
        return json.loads(self.template_path.read_text())

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.get("Resources", {})

    @cached_property
    def paths(self) -> dict[str, str]:
        """Logical id -> construct path, from the `aws:cdk:logicalId` metadata."""
        return {
            entry["data"]: path
            for path, entries in self.metadata.items()
            for entry in entries
            if entry.get("type") == "aws:cdk:logicalId"
        }


@dataclass
class Stage:
    name: str
    stacks: list[Stack]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AssemblyError(f"{path}: not found (run `make synth` first)") from None
    except json.JSONDecodeError as error:
        raise AssemblyError(f"{path}: not valid JSON ({error.msg})") from None


def _stacks(directory: Path, stage: str) -> list[Stack]:
    manifest = _read_json(directory / "manifest.json")
    artifacts = manifest.get("artifacts", {})
    by_artifact: dict[str, str] = {}
    stacks = []
    for artifact_id, artifact in artifacts.items():
        if artifact.get("type") != STACK_TYPE:
            continue
        properties = artifact.get("properties", {})
        metadata_file = artifact.get("additionalMetadataFile")
        metadata = _read_json(directory / metadata_file) if metadata_file else artifact.get("metadata", {})
        stack_id = artifact.get("displayName", artifact_id)
        by_artifact[artifact_id] = stack_id
        stacks.append(
            Stack(
                id=stack_id,
                name=properties.get("stackName", artifact_id),
                stage=stage,
                region=artifact.get("environment", "aws://unknown/unknown").rsplit("/", 1)[-1],
                template_path=directory / properties["templateFile"],
                metadata=metadata,
                dependencies=list(artifact.get("dependencies", [])),
            )
        )
    for stack in stacks:  # keep only stack-to-stack dependencies (drop asset manifests)
        stack.dependencies = [by_artifact[d] for d in stack.dependencies if d in by_artifact]
    return stacks


def load(cdk_out: Path) -> list[Stage]:
    """Every stage of the assembly in manifest order; top-level stacks form the stage `(app)`."""
    manifest = _read_json(cdk_out / "manifest.json")
    stages = []
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") == NESTED_TYPE:
            properties = artifact["properties"]
            name = properties.get("displayName", properties["directoryName"])
            stages.append(Stage(name, _stacks(cdk_out / properties["directoryName"], name)))
    top_level = _stacks(cdk_out, APP_STAGE)
    if top_level:
        stages.append(Stage(APP_STAGE, top_level))
    if not stages:
        raise AssemblyError(f"{cdk_out}: the assembly holds no stacks")
    return stages
