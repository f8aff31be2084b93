"""What the local stage takes from the synthesized dev stage (`make synth STAGE=dev` → cdk.out).

- the Runtime's `EnvironmentVariables` (the agent's settings contract): literal values are used as they are;
  values the deployment resolves (Refs, stack outputs: the user pool, gateway URL, memory id, ...) must be
  supplied by the local stage, and a value it cannot supply is an error naming the variable;
- each tool Lambda's environment, with the table Ref replaced by the local table's name;
- each tool table's key schema and indexes (created in the local DynamoDB exactly as declared).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGE = "dev"
TABLE_TYPES = ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table")
_TABLE_KEYS = ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes")


class DevStageError(Exception):
    """The synthesized dev stage is missing or not what the local stage can run."""


@dataclass(frozen=True)
class Table:
    """One tool table: the name its function reads it by, and its CreateTable arguments."""

    name: str
    env_var: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class DevStage:
    runtime_environment: dict[str, Any]  # str for literals, a dict for values resolved at deploy time
    function_environment: dict[str, str]  # the tool functions' variables (one process runs them all)
    tables: list[Table]

    def agent_environment(self, local: Mapping[str, str], off: frozenset[str]) -> dict[str, str]:
        """The Runtime's variables with every deploy-time value replaced from `local` (or left out: `off`)."""
        environment: dict[str, str] = {}
        for name, value in self.runtime_environment.items():
            if name in local:
                environment[name] = local[name]
            elif isinstance(value, str):
                environment[name] = value
            elif name not in off:
                raise DevStageError(f"the dev Runtime sets {name} at deploy time; no local value for it")
        return environment


def load(cdk_out: Path) -> DevStage:
    """Read the dev stage's templates from a cloud assembly directory."""
    templates = _templates(cdk_out)
    runtime = [r for t in templates for r in _resources(t, "AWS::BedrockAgentCore::Runtime")]
    if len(runtime) != 1:
        raise DevStageError(f"expected one AgentCore Runtime in the {STAGE} stage, found {len(runtime)}")
    tables: list[Table] = []
    function_environment: dict[str, str] = {}
    for template in templates:
        resources = template.get("Resources", {})
        for function in _resources(template, "AWS::Lambda::Function"):
            variables = (function.get("Environment") or {}).get("Variables") or {}
            if "POWERTOOLS_SERVICE_NAME" not in variables:
                continue  # not a tool function (custom resource providers)
            target = variables["POWERTOOLS_SERVICE_NAME"]
            for name, value in variables.items():
                if isinstance(value, dict) and "Ref" in value:
                    table = resources.get(value["Ref"], {})
                    if table.get("Type") not in TABLE_TYPES:
                        raise DevStageError(f"function {target}: {name} refers to an unknown resource")
                    # Named after its variable, not the function: a function may also name another
                    # target's table (ORDERS_TABLE_NAME in inventory's environment), created once.
                    local_name = f"{STAGE}-{name.removesuffix('_TABLE_NAME').lower()}"
                    if all(existing.name != local_name for existing in tables):
                        properties = table["Properties"]
                        definition = {k: properties[k] for k in _TABLE_KEYS if properties.get(k)}
                        tables.append(Table(local_name, name, {"TableName": local_name, **definition}))
                    function_environment[name] = local_name
                elif name != "POWERTOOLS_SERVICE_NAME" and isinstance(value, str):
                    function_environment[name] = value
    if not tables:
        raise DevStageError(f"the {STAGE} stage has no tool function with a table")
    return DevStage(dict(runtime[0].get("EnvironmentVariables") or {}), function_environment, tables)


def _templates(cdk_out: Path) -> list[dict[str, Any]]:
    """The templates of every stack of the dev stage's nested assembly."""
    manifest = cdk_out / f"assembly-{STAGE}" / "manifest.json"
    if not manifest.is_file():
        raise DevStageError(f"no synthesized {STAGE} stage in {cdk_out} (run: make synth STAGE={STAGE})")
    artifacts = json.loads(manifest.read_text()).get("artifacts", {})
    files = [
        manifest.parent / artifact["properties"]["templateFile"]
        for artifact in artifacts.values()
        if artifact.get("type") == "aws:cloudformation:stack"
    ]
    return [json.loads(path.read_text()) for path in files]


def _resources(template: Mapping[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        resource.get("Properties", {})
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == resource_type
    ]
