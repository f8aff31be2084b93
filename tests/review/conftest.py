"""The review report of this repository's own assembly, written once per session (from the session's review,
whose cfn-lint pass the compliance tests share)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from local.chromium import chromium_path
from review.__main__ import report_sections, write


@pytest.fixture(scope="session")
def report_dir(reviewed, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("review")
    write(out, report_sections(reviewed))
    return out


@pytest.fixture(scope="session")
def report(report_dir) -> tuple[str, str]:
    return (report_dir / "review.md").read_text(), (report_dir / "index.html").read_text()


# Debian's chromium here (.ci/run installs it); CI runners set CHROMIUM to the browser they ship.
CHROMIUM = os.environ.get("CHROMIUM") or chromium_path()
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser_page(tmp_path):
    """A page of a real headless Chromium (skips where none is installed)."""
    if CHROMIUM is None:
        pytest.skip("no Chromium: Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            yield context.new_page()
        finally:
            context.close()
