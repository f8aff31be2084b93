"""Templates as the diff engine should see them for a reader: noise no reviewer decides on is left out, and
JSON text is diffed as JSON.

- `AWS::CDK::Metadata` (the construct library's analytics blob, different after every library upgrade) and the
  `aws:cdk:*` / `aws:asset:*` keys of a resource's `Metadata` (local asset paths, ignored by CloudFormation)
  are dropped: they filled the raw diffs with compressed strings and made unchanged stacks look changed.
- A property whose value is JSON text of an object (a dashboard body, a Logs resource policy: often an
  `Fn::Join` of fragments around `Ref`s) becomes that object, with the references as `${Name}`. The engine
  then diffs it member by member, one short line each, instead of printing escaped fragments thousands of
  characters wide. A change's impact is per property name, so update and replacement verdicts stay the same.
"""

from __future__ import annotations

import json
from typing import Any

from review.intrinsics import render

CDK_METADATA = "AWS::CDK::Metadata"
CDK_METADATA_KEYS = ("aws:cdk:", "aws:asset:")


def json_text(value: Any) -> dict[str, Any] | None:
    """The object a JSON-text property holds (a string or an `Fn::Join` of one), None for anything else."""
    if not isinstance(value, str) and not (isinstance(value, dict) and set(value) == {"Fn::Join"}):
        return None
    text = render(value)
    if not text.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:  # a reference outside a JSON string, e.g. a number: keep it as it is
        return None
    return parsed if isinstance(parsed, dict) else None


def _resource(resource: dict[str, Any]) -> dict[str, Any]:
    readable = dict(resource)
    metadata = resource.get("Metadata")
    if isinstance(metadata, dict):
        kept = {key: value for key, value in metadata.items() if not key.startswith(CDK_METADATA_KEYS)}
        if kept:
            readable["Metadata"] = kept
        else:
            del readable["Metadata"]
    properties = resource.get("Properties")
    if isinstance(properties, dict):
        readable["Properties"] = {
            name: parsed if (parsed := json_text(value)) is not None else value
            for name, value in properties.items()
        }
    return readable


def readable(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of `template` for the diff engine (the template itself is not changed)."""
    resources = {
        logical_id: _resource(resource)
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") != CDK_METADATA
    }
    return {**template, "Resources": resources}
