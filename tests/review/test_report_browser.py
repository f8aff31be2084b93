"""The HTML report in a real headless Chromium: renders, logs no error, loads nothing, has every section."""

from __future__ import annotations

import os

import pytest

from local.chromium import chromium_path
from review import assembly

# Debian's chromium here (.ci/run installs it); CI runners set CHROMIUM to the browser they ship.
CHROMIUM = os.environ.get("CHROMIUM") or chromium_path()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: Debian's chromium is not installed")
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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_report_renders_in_chromium(browser_page, report_dir, synthesized, tmp_path):
    page = browser_page
    errors, requests = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    url = (report_dir / "index.html").as_uri()
    page.goto(url, wait_until="load")

    shot = tmp_path / "review.png"
    page.screenshot(path=str(shot))  # the first screen: a full-page shot of this ~56,000 px page costs 3 s
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    assert errors == []
    assert requests == [url]  # the page itself and nothing else

    stages = [stage.name for stage in assembly.load(synthesized.outdir)]
    assert page.locator("h2").all_inner_texts() == [
        "Decision summary",
        "Summary",
        "Configuration differences between stages",
    ] + [f"Stage {name}" for name in stages]
    for name in stages:
        for part in ("stacks", "resources", "outputs", "stateful", "iam", "acknowledgments", "cfn-lint"):
            assert page.locator(f"section#{name}-{part} h3").is_visible(), f"{name}-{part}"
    diagrams = page.locator("svg.diagram")
    assert diagrams.count() == len(stages)
    assert diagrams.first.bounding_box()["width"] > 200
    assert page.locator(".flag").count() > 0
