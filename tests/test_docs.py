"""The README stays true: every config key is documented, and the two commands are the ones that exist."""

from __future__ import annotations

import re

from stacks.config import SETTINGS
from tests.conftest import ROOT


def test_readme_config_table_lists_every_key_and_nothing_else():
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `([a-z_0-9]+)` \|", readme, flags=re.MULTILINE))
    assert table == set(SETTINGS)


def test_readme_commands_exist_in_the_makefile():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"`make (\w+)`", readme) + re.findall(
        r"^make (\w+)", readme, flags=re.MULTILINE
    ):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), target
    assert "make synth" in readme and "make test" in readme


def test_readme_names_every_environment_variable_of_make_local():
    """`python -m local`'s docstring lists what it reads (e.g. LOCAL_AGENT_PORT, which the port-in-use
    error suggests); a new user finds each in the README."""
    doc = (ROOT / "local" / "__main__.py").read_text().split('"""', 2)[1]
    environment = doc.split("Environment:", 1)[1].split("\nEvery failure", 1)[0]
    variables = set(re.findall(r"\b[A-Z][A-Z_]{2,}\b", environment))
    assert {"LOCAL_AGENT_PORT", "LOCAL_STATE_DIR", "MODEL"} <= variables
    readme = (ROOT / "README.md").read_text()
    assert {name for name in variables if f"`{name}" not in readme} == set()
