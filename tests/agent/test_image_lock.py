"""The agent image installs a lock (agent_src/requirements.lock, `make lock`) on a base pinned by digest: the
lock must say exactly what requirements.txt asks for, for the image's Python, every file with its hash."""

from __future__ import annotations

import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

AGENT = ROOT / "agent_src"
DIRECT = "# via -r agent_src/requirements.txt"


def _entries(lock: str) -> dict[str, tuple[str, list[str], list[str]]]:
    """name -> (version, hashes, `via` comment lines) of each locked distribution."""
    entries: dict[str, tuple[str, list[str], list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock):
        head = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)", block)
        if head:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            via = [line.strip() for line in block.splitlines() if line.strip().startswith("#")]
            entries[canonicalize_name(head[1])] = (head[2], hashes, via)
    return entries


def _required() -> dict[str, str]:
    """name -> pinned version of agent_src/requirements.txt."""
    found = {}
    for line in (AGENT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            found[canonicalize_name(requirement.name)] = specifier.version
    return found


def drift(required: dict[str, str], lock: str) -> list[str]:
    """What differs between requirements.txt's pins and the lock's direct entries (empty: in step)."""
    entries = _entries(lock)
    direct = {
        name: version
        for name, (version, _, via) in entries.items()
        if any(DIRECT in line or line == "#   -r agent_src/requirements.txt" for line in via)
    }
    problems = [f"{name}: not in the lock" for name in required.keys() - entries.keys()]
    problems += [
        f"{name}: requirements.txt pins {version}, the lock has {entries[name][0]}"
        for name, version in required.items()
        if name in entries and entries[name][0] != version
    ]
    problems += [
        f"{name}: locked as a direct requirement, not in requirements.txt"
        for name in direct.keys() - required.keys()
    ]
    return problems


def test_the_lock_holds_exactly_the_pins_of_requirements_txt():
    assert drift(_required(), (AGENT / "requirements.lock").read_text()) == [], "run `make lock`"


def test_drift_is_found_both_ways():
    lock = (AGENT / "requirements.lock").read_text()
    required = _required()
    assert drift({**required, "boto3": "0.0.1"}, lock) == [
        f"boto3: requirements.txt pins 0.0.1, the lock has {required['boto3']}"
    ]
    assert drift({**required, "left-pad": "1.0"}, lock) == ["left-pad: not in the lock"]
    assert drift({k: v for k, v in required.items() if k != "openai"}, lock) == [
        "openai: locked as a direct requirement, not in requirements.txt"
    ]


def test_every_locked_distribution_has_a_hash_and_the_image_installs_only_the_lock():
    entries = _entries((AGENT / "requirements.lock").read_text())
    assert len(entries) > len(_required())  # transitive dependencies too
    assert [name for name, (_, hashes, _) in entries.items() if not hashes] == []
    dockerfile = (AGENT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "requirements.txt" not in re.sub(r"#.*", "", dockerfile)


def test_the_base_image_is_pinned_by_digest_and_is_the_python_the_lock_is_for():
    dockerfile = (AGENT / "Dockerfile").read_text()
    (base,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert re.fullmatch(r"[a-z0-9./-]+/python:(\d+\.\d+)\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base)
    assert re.search(r"^FROM --platform=linux/arm64 \$\{BASE_IMAGE\}$", dockerfile, flags=re.MULTILINE)
    python = re.search(r"python:(\d+\.\d+)\.", base)[1]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^AGENT_PYTHON := {re.escape(python)}$", makefile, flags=re.MULTILINE)
    assert "--python-platform aarch64-manylinux_2_28" in makefile
