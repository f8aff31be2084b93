"""The HTML report in a real headless Chromium: renders, logs no error, loads nothing, has every section."""

from __future__ import annotations

import pytest

from review import assembly
from tests.review.conftest import CHROMIUM

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: Debian's chromium is not installed")


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
