"""`make screenshots`: the README's pictures of the chat page, taken from a real local stage (scripted model).

    .venv/bin/python -m webui.screenshots [OUT_DIR]     # default docs/images

Starts the local stage in a scratch state directory (nothing of `.local/` is touched; agent and page on free
ports), signs in as alice and asks about her order, then as bob asks the same, and saves each view at
1280 px. Needs Chromium (`apt-get install chromium`) and the synthesized dev stage (`make synth STAGE=dev`).
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError

from local.chromium import chromium_path
from local.lambda_context import REPO_ROOT
from local.stage import LocalStage, LocalStageError, Options

WAIT_MS = 60_000
SHOTS = (  # (file, user, prompt)
    ("chat-tool-call.png", "alice", "Where is my order ORD-1001?"),
    ("chat-refusal.png", "bob", "Where is my order ORD-1001?"),
)


def take(out_dir: Path, page_url: str, executable: str) -> list[Path]:
    """Each of SHOTS as a PNG in `out_dir`."""
    from playwright.sync_api import sync_playwright

    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        for name, user, prompt in SHOTS:
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            page.goto(page_url)
            page.click(f"button[data-user={user}]")
            page.fill("#ask textarea", prompt)
            page.press("#ask textarea", "Enter")
            page.locator(".timeline .spans").wait_for(timeout=WAIT_MS)
            saved.append(out_dir / name)
            page.screenshot(path=str(saved[-1]), full_page=True)
            context.close()
        browser.close()
    return saved


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else REPO_ROOT / "docs" / "images"
    executable = chromium_path()
    if executable is None:
        print("screenshots: no Chromium is installed here: apt-get install chromium", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as scratch:
        state = Path(scratch)
        options = Options(
            state_dir=state, cdk_out=REPO_ROOT / "cdk.out", model="scripted", agent_port=0, page_port=0
        )
        stage, err = LocalStage(options), sys.stderr
        # What the stage's in-process emulators and tool handlers print goes to a log, as with `make local`.
        with (state / "stage.log").open("w") as log, redirect_stdout(log), redirect_stderr(log):
            try:
                stage.start(lambda line: None)
                saved = take(out_dir, stage.page_url, executable)
            except LocalStageError as error:
                print(f"screenshots: {error}", file=err)
                return 2
            except PlaywrightError as error:  # the page did not show what it should: say what, in one line
                print(f"screenshots: {str(error).splitlines()[0]} (stage log: {log.name})", file=err)
                return 1
            finally:
                stage.stop()
    for path in saved:
        print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
