"""`make synth` installs requirements.txt only, so building the app must import nothing else: a fresh clone's
`make synth` would fail on it (as it did when the stacks started importing cedarpy)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement

from tests.conftest import ROOT

BUILD_AND_LIST_MODULES = """
import json, sys
at_start = set(sys.modules)  # the interpreter's own (site hooks such as setuptools' _distutils_hack)
import aws_cdk as cdk
from app import ONLY_STAGE_KEY, build_app, new_app
# One stage imports every stack module (the pipeline's only when configured, as in cdk.json).
build_app(new_app(context={**json.load(open("cdk.json"))["context"], ONLY_STAGE_KEY: "dev"}))
print(json.dumps(sorted({name.split(".")[0] for name in set(sys.modules) - at_start})))
"""


def pinned(path):
    """The requirements of one requirements file (following `-r`)."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            found += pinned(path.parent / line[3:].strip())
        elif line:
            found.append(Requirement(line))
    return found


def closure(requirements):
    """Normalized names of these distributions and of everything they require, installed as pinned."""
    seen, todo = set(), list(requirements)
    while todo:
        requirement = todo.pop()
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name in seen:
            continue
        seen.add(name)
        for extra in [*requirement.extras, ""]:
            for dependency in metadata.requires(name) or []:
                dependency = Requirement(dependency)
                environment = {**default_environment(), "extra": extra}
                if dependency.marker is None or dependency.marker.evaluate(environment):
                    todo.append(dependency)
    return seen


def test_building_the_app_imports_only_what_requirements_txt_installs():
    allowed = closure(pinned(ROOT / "requirements.txt"))
    modules = json.loads(
        subprocess.run(
            [sys.executable, "-c", BUILD_AND_LIST_MODULES],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    distributions = metadata.packages_distributions()
    outside = {
        module: distributions[module]
        for module in modules
        if module in distributions
        and not {re.sub(r"[-_.]+", "-", d).lower() for d in distributions[module]} & allowed
    }
    assert outside == {}
