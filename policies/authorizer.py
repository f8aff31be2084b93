"""The Cedar policies in this directory, and their evaluation the way AgentCore Policy does it, offline.

Each `policies/<name>.cedar` holds exactly one Cedar statement; the stack deploys every file as one
`AWS::BedrockAgentCore::Policy` named after it, with `${GATEWAY_ARN}` replaced by the stage's gateway ARN.

AgentCore builds one Cedar request per tool call (devguide "Authorization flow", "Schema constraints"):
- principal `AgentCore::OAuthUser::"<sub>"` with attribute `id` and one tag per string claim of the verified
  token (our pre-token trigger adds `role` and `customer_id`; array claims such as `cognito:groups` are not
  relied on);
- action `AgentCore::Action::"<target>___<tool>"`; resource `AgentCore::Gateway::"<gateway arn>"`;
- context `{"input": <the tool call's arguments>}`, typed by a schema generated from the tools' input schemas
  (string→String, integer→Long, boolean→Bool, number→Decimal, object→Record, array→Set; a field not in
  `required` is optional). A request that does not fit the schema is not authorized.
Default deny: a call is allowed only if some permit applies and no forbid does. `authorize` does exactly this
with cedarpy, against the same files and a schema generated the same way, for the tests and the local
gateway double.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

POLICY_DIR = Path(__file__).resolve().parent
LAMBDAS = POLICY_DIR.parent / "lambdas"
GATEWAY_ARN_PLACEHOLDER = "${GATEWAY_ARN}"
NAMESPACE = "AgentCore"
SEPARATOR = "___"

_CEDAR_TYPES = {"string": "String", "integer": "Long", "boolean": "Bool"}


@dataclass(frozen=True)
class Decision:
    """Whether a call is allowed, the policies that decided it and any evaluation errors."""

    allowed: bool
    policies: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)


def policy_files(directory: Path = POLICY_DIR) -> dict[str, str]:
    """`{policy name: Cedar text}` for every `*.cedar` file, the names the stack deploys them under."""
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.cedar"))}


def render(text: str, gateway_arn: str) -> str:
    """A policy's text for one gateway (raw Cedar: the ARN must not contain a quote or a backslash)."""
    if '"' in gateway_arn or "\\" in gateway_arn:
        raise ValueError(f"not a gateway ARN: {gateway_arn!r}")
    return text.replace(GATEWAY_ARN_PLACEHOLDER, gateway_arn)


def _tool_specs(lambdas_dir: Path) -> dict[str, Mapping[str, Any]]:
    """`{<target>___<tool>: input schema}` for every target, from the tools.json the gateway serves."""
    layer = str(lambdas_dir / "shared" / "python")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    from gateway_tool.schema import load_tools

    return {
        f"{path.parent.name}{SEPARATOR}{spec.name}": spec.input_schema
        for path in sorted(lambdas_dir.glob("*/tools.json"))
        for spec in load_tools(path)
    }


def _cedar_type(schema: Mapping[str, Any]) -> dict[str, Any]:
    kind = schema["type"]
    if kind == "object":
        required = set(schema.get("required", []))
        return {
            "type": "Record",
            "attributes": {
                name: {**_cedar_type(sub), "required": name in required}
                for name, sub in schema.get("properties", {}).items()
            },
        }
    if kind == "array":
        return {"type": "Set", "element": _cedar_type(schema["items"])}
    if kind == "number":
        return {"type": "Extension", "name": "decimal"}
    return {"type": _CEDAR_TYPES[kind]}


@cache
def cedar_schema(lambdas_dir: Path = LAMBDAS) -> str:
    """The Cedar schema (JSON form) AgentCore derives from the gateway's tools, as cedarpy takes it."""
    actions = {
        name: {
            "appliesTo": {
                "principalTypes": ["OAuthUser"],
                "resourceTypes": ["Gateway"],
                "context": {"type": "Record", "attributes": {"input": _cedar_type(schema)}},
            }
        }
        for name, schema in _tool_specs(lambdas_dir).items()
    }
    entities = {
        "OAuthUser": {
            "shape": {"type": "Record", "attributes": {"id": {"type": "String"}}},
            "tags": {"type": "String"},
        },
        "Gateway": {},
    }
    return json.dumps({NAMESPACE: {"entityTypes": entities, "actions": actions}})


def tool_names(lambdas_dir: Path = LAMBDAS) -> frozenset[str]:
    """Every action the policies may name: the gateway's prefixed tool names."""
    return frozenset(_tool_specs(lambdas_dir))


def _cedar_value(value: Any) -> Any:
    """JSON argument values as Cedar JSON: floats become decimals (Cedar has no floating point)."""
    if isinstance(value, float):
        return {"__extn": {"fn": "decimal", "arg": f"{Decimal(repr(value)):.4f}"}}
    if isinstance(value, dict):
        return {key: _cedar_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cedar_value(item) for item in value]
    return value


def cedar_request(
    claims: Mapping[str, Any], tool: str, arguments: Mapping[str, Any], gateway_arn: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Cedar request and entities AgentCore builds for one tool call by the holder of `claims`."""
    sub = str(claims["sub"])
    principal = {"type": f"{NAMESPACE}::OAuthUser", "id": sub}
    gateway = {"type": f"{NAMESPACE}::Gateway", "id": gateway_arn}
    tags = {name: value for name, value in claims.items() if isinstance(value, str)}
    request = {
        "principal": f'{NAMESPACE}::OAuthUser::"{sub}"',
        "action": f'{NAMESPACE}::Action::"{tool}"',
        "resource": f'{NAMESPACE}::Gateway::"{gateway_arn}"',
        "context": {"input": _cedar_value(dict(arguments))},
    }
    entities = [
        {"uid": principal, "attrs": {"id": sub}, "parents": [], "tags": tags},
        {"uid": gateway, "attrs": {}, "parents": []},
    ]
    return request, entities


@cache
def _policy_set(gateway_arn: str, directory: Path) -> tuple[tuple[str, ...], str]:
    """(file names, all statements in that order): cedarpy calls the n-th statement `policy<n>`."""
    files = policy_files(directory)
    return tuple(files), "\n".join(render(text, gateway_arn) for text in files.values())


@cache
def _parsed(gateway_arn: str, directory: Path, lambdas_dir: Path) -> tuple[tuple[str, ...], Any, Any]:
    """(file names, parsed policy set, parsed schema): parsing both was 5/6 of each call's cost (1.7 ms)."""
    import cedarpy

    names, policy_text = _policy_set(gateway_arn, directory)
    schema = cedarpy.Schema.from_json_str(cedar_schema(lambdas_dir))
    return names, cedarpy.PolicySet.from_str(policy_text), schema


def authorize(
    claims: Mapping[str, Any],
    tool: str,
    arguments: Mapping[str, Any],
    gateway_arn: str,
    *,
    directory: Path = POLICY_DIR,
    lambdas_dir: Path = LAMBDAS,
) -> Decision:
    """Evaluate one tool call against the policy files and the tools' schema (default deny)."""
    import cedarpy  # here, not at the top: synth reads the policy files and needs no Cedar engine

    request, entities = cedar_request(claims, tool, arguments, gateway_arn)
    names, policies, schema = _parsed(gateway_arn, directory, lambdas_dir)
    result = cedarpy.is_authorized(request, policies, entities, schema=schema)
    return Decision(
        allowed=result.decision == cedarpy.Decision.Allow,
        policies=tuple(names[int(reason.removeprefix("policy"))] for reason in result.diagnostics.reasons),
        errors=tuple(str(error) for error in result.diagnostics.errors),
    )


def validate(gateway_arn: str, directory: Path = POLICY_DIR, lambdas_dir: Path = LAMBDAS) -> list[str]:
    """Cedar validation errors of the policy files against the tools' schema (empty when valid)."""
    import cedarpy

    result = cedarpy.validate_policies(_policy_set(gateway_arn, directory)[1], cedar_schema(lambdas_dir))
    return [str(error) for error in result.errors]
