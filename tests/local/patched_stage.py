"""A copy of the synthesized dev stage with some of its Runtime's variables changed: what synthesizing it with
other settings gives (the settings map to these variables in stacks/runtime_stack.py and its capabilities),
without another synthesis."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def with_runtime_environment(outdir: Path, target: Path, **variables: str) -> Path:
    """Copy `outdir`'s dev assembly to `target` and set `variables` on its Runtime; returns `target`."""
    shutil.copytree(
        outdir / "assembly-dev", target / "assembly-dev", ignore=shutil.ignore_patterns("asset.*")
    )
    patched = 0
    for template in (target / "assembly-dev").glob("*.template.json"):
        document = json.loads(template.read_text())
        for resource in document.get("Resources", {}).values():
            if resource.get("Type") == "AWS::BedrockAgentCore::Runtime":
                resource["Properties"]["EnvironmentVariables"].update(variables)
                template.write_text(json.dumps(document))
                patched += 1
    assert patched == 1
    return target
