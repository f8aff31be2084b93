"""What the local stage takes from the synthesized dev stage (`make synth STAGE=dev` → cdk.out).

- the Runtime's `EnvironmentVariables` (the agent's settings contract): literal values are used as they are;
  values the deployment resolves (Refs, stack outputs: the user pool, gateway URL, memory id, ...) must be
  supplied by the local stage, and a value it cannot supply is an error naming the variable;
- each tool Lambda's environment, with the table Ref replaced by the local table's name;
- each tool table's key schema and indexes (created in the local DynamoDB exactly as declared);
- each table the Runtime's environment names through another stack's output (the token-usage table), created
  the same way, its variable given the local table's name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    agent_tables: dict[str, str] = field(default_factory=dict)  # the Runtime's table variables: local names

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
    stacks = _templates(cdk_out)
    templates = list(stacks.values())
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
                        tables.append(_table(local_name, name, table["Properties"]))
                    function_environment[name] = local_name
                elif name != "POWERTOOLS_SERVICE_NAME" and isinstance(value, str):
                    function_environment[name] = value
    if not tables:
        raise DevStageError(f"the {STAGE} stage has no tool function with a table")
    runtime_environment = dict(runtime[0].get("EnvironmentVariables") or {})
    agent_tables: dict[str, str] = {}
    for name, value in runtime_environment.items():
        properties = _output_table(stacks, value)
        if properties is not None:
            local_name = f"{STAGE}-{name.lower().removesuffix('_table').replace('_', '-')}"
            tables.append(_table(local_name, name, properties))
            agent_tables[name] = local_name
    return DevStage(runtime_environment, function_environment, tables, agent_tables)


def _table(local_name: str, env_var: str, properties: Mapping[str, Any]) -> Table:
    """The local table of a declared one: the same keys and indexes under its local name."""
    definition = {k: properties[k] for k in _TABLE_KEYS if properties.get(k)}
    return Table(local_name, env_var, {"TableName": local_name, **definition})


def _output_table(stacks: Mapping[str, dict[str, Any]], value: Any) -> dict[str, Any] | None:
    """The properties of the table a Runtime variable names through another stack's output, else None."""
    reference = value.get("Fn::GetStackOutput") if isinstance(value, dict) else None
    if not isinstance(reference, dict):
        return None
    template = stacks.get(reference.get("StackName", ""), {})
    output = template.get("Outputs", {}).get(reference.get("OutputName", ""), {}).get("Value")
    if not isinstance(output, dict) or "Ref" not in output:
        return None
    resource = template.get("Resources", {}).get(output["Ref"], {})
    return resource.get("Properties", {}) if resource.get("Type") in TABLE_TYPES else None


def _templates(cdk_out: Path) -> dict[str, dict[str, Any]]:
    """The templates of every stack of the dev stage's nested assembly, by stack name."""
    manifest = cdk_out / f"assembly-{STAGE}" / "manifest.json"
    if not manifest.is_file():
        raise DevStageError(f"no synthesized {STAGE} stage in {cdk_out} (run: make synth STAGE={STAGE})")
    artifacts = json.loads(manifest.read_text()).get("artifacts", {})
    stacks = {
        artifact.get("properties", {}).get("stackName", key): manifest.parent
        / artifact["properties"]["templateFile"]
        for key, artifact in artifacts.items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    return {name: json.loads(path.read_text()) for name, path in stacks.items()}


def _resources(template: Mapping[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        resource.get("Properties", {})
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == resource_type
    ]
