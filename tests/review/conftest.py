"""The review report of this repository's own assembly, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from review.__main__ import main
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def report_dir(synthesized, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("review")
    args = ["--cdk-out", str(synthesized.outdir), "--cdk-json", str(ROOT / "cdk.json"), "--out", str(out)]
    assert main(args) == 0
    return out


@pytest.fixture(scope="session")
def report(report_dir) -> tuple[str, str]:
    return (report_dir / "review.md").read_text(), (report_dir / "index.html").read_text()
