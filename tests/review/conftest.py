"""The review report of this repository's own assembly, written once per session (from the session's review,
whose cfn-lint pass the compliance tests share)."""

from __future__ import annotations

from pathlib import Path

import pytest

from review.__main__ import report_sections, write


@pytest.fixture(scope="session")
def report_dir(reviewed, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("review")
    write(out, report_sections(reviewed))
    return out


@pytest.fixture(scope="session")
def report(report_dir) -> tuple[str, str]:
    return (report_dir / "review.md").read_text(), (report_dir / "index.html").read_text()
