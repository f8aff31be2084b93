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
