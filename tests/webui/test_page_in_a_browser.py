"""The chat page of `make local` in a real headless Chromium, against a running local stage (scripted model):
sign in as a local user, talk, see tool calls, refusals, usage and the timeline, continue a session after a
reload, and stay inert to markup in the agent's output."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.local.launcher import LocalProcess, start
from tests.review.conftest import CHROMIUM, FLAGS

WAIT_MS = 60_000  # bounds a broken page only; each wait ends on the element appearing


@pytest.fixture(scope="module")
def stage(synthesized, tmp_path_factory) -> Iterator[LocalProcess]:
    running = start(tmp_path_factory.mktemp("local") / "state", CDK_OUT=str(synthesized.outdir))
    yield running
    running.interrupt()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("no Chromium: Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, stage):
    """A fresh browser profile (no cookie) on the page, with every page error and console error kept."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.problems = []
    opened.on("pageerror", lambda error: opened.problems.append(f"pageerror: {error}"))
    opened.on("console", lambda m: m.type == "error" and opened.problems.append(f"console: {m.text}"))
    opened.goto(stage.page_url)
    yield opened
    context.close()


def sign_in(page, user: str) -> None:
    """Sign in as `user`; returns once the page shows the user's latest session (or a new one)."""
    page.click(f"button[data-user={user}]", timeout=WAIT_MS)
    page.wait_for_selector(f"#user:has-text('signed in as {user}')", timeout=WAIT_MS)
    page.wait_for_selector("#ask textarea:enabled", timeout=WAIT_MS)


def ask(page, prompt: str):
    """Send `prompt`; the new turn once its answer has finished streaming (the Send button is back)."""
    before = page.locator("#conversation > li.turn").count()
    page.fill("#ask textarea", prompt)
    page.press("#ask textarea", "Enter")
    turn = page.locator("#conversation > li.turn").nth(before)
    assert turn.locator(".prompt").inner_text(timeout=WAIT_MS) == prompt  # this turn, in the view it was sent
    turn.locator(".usage, .problem").first.wait_for(timeout=WAIT_MS)
    page.wait_for_selector("#ask button:enabled", timeout=WAIT_MS)
    return turn


def test_the_ready_line_prints_the_pages_url(stage):
    ready = next(line for line in stage.lines if line.startswith("ready"))
    assert f"open {stage.page_url} to chat" in ready
    assert stage.page_url.startswith("http://127.0.0.1:")


def test_alice_asks_about_her_order_and_sees_the_tool_call_its_result_usage_and_timeline(page):
    sign_in(page, "alice")
    assert "scripted" in page.inner_text("#model")
    turn = ask(page, "Where is my order ORD-1001?")
    tool = turn.locator("details.tool")
    assert tool.count() == 1
    assert tool.locator(".tool-name").inner_text() == "orders___get_order"
    assert "ok" in tool.locator(".badge").inner_text()
    assert '"order_id": "ORD-1001"' in tool.locator(".arguments").inner_text()
    assert '"customer_id": "CUST-001"' in tool.locator(".result").inner_text()
    usage = turn.locator(".usage").inner_text()
    assert " tokens (" in usage and "≈ $0.0" in usage
    assert int(turn.locator(".usage .tokens").inner_text().split()[0]) > 0
    timeline = turn.locator(".timeline")
    timeline.locator(".spans").wait_for(timeout=WAIT_MS)  # spans arrive a moment after the answer
    kinds = timeline.locator(".span .kind").all_inner_texts()
    assert {"model", "memory", "tool"} <= set(kinds)
    assert timeline.locator(".span.tool .span-name:has-text('execute_tool orders___get_order')").count() == 1
    assert "2 model call(s), 1 tool call(s)" in timeline.locator("summary").inner_text()
    assert page.problems == []


def test_bob_asking_about_alices_order_sees_a_refusal_not_a_page_error(page):
    sign_in(page, "bob")
    turn = ask(page, "Where is my order ORD-1001?")
    tool = turn.locator("details.tool")
    assert tool.count() == 1, turn.inner_text()
    assert "refused" in (tool.get_attribute("class") or "")
    assert tool.locator(".badge").inner_text() == "refused: PERMISSION_DENIED"
    assert "CUST-001" not in turn.inner_text()  # nothing of alice's order reached bob's page
    assert turn.locator(".problem").count() == 0  # the turn itself did not fail
    assert page.problems == []


def test_after_a_reload_the_session_is_listed_open_and_continues(page):
    sign_in(page, "alice")
    page.click("#new-session")
    ask(page, "hello there")
    session = page.inner_text("#session-id")
    page.reload()
    page.wait_for_selector("#conversation > li.turn", timeout=WAIT_MS)
    assert page.inner_text("#session-id") == session
    assert page.locator("#sessions button.current .title").inner_text() == "hello there"
    assert page.locator("#conversation > li.turn .prompt").all_inner_texts() == ["hello there"]
    second = ask(page, "and again")
    assert "This conversation has 1 earlier user message(s)" in second.inner_text()
    assert 'The first was: "hello there"' in second.inner_text()
    page.click("#new-session")
    assert page.locator("#conversation > li.turn").count() == 0
    fresh = ask(page, "a new start")
    assert "This conversation has 0 earlier user message(s)" in fresh.inner_text()
    assert page.inner_text("#session-id") != session
    assert page.problems == []


def test_markup_in_the_agents_answer_runs_nothing_and_stays_text(page):
    sign_in(page, "alice")
    title = page.title()
    payload = (
        "<img src=x onerror=\"window.__pwned='img'\"> <script>window.__pwned='script'</script> "
        "[click me](javascript:window.__pwned='link') [docs](https://docs.aws.amazon.com/)"
    )
    page.click("#new-session")
    turn = ask(page, payload)
    answer = turn.locator(".answer")
    assert "You said:" in answer.inner_text()
    assert "<img src=x onerror=" in answer.inner_text()  # shown as the text it is
    assert page.locator("#conversation img, #conversation script, #conversation iframe").count() == 0
    assert answer.locator("a").count() == 1  # only the https link became a link
    assert answer.locator("a").get_attribute("href") == "https://docs.aws.amazon.com/"
    answer.get_by_text("[click me](javascript:", exact=False).click()
    assert page.evaluate("window.__pwned") is None
    assert page.title() == title
    assert page.problems == []


def test_nothing_can_be_typed_until_the_users_sessions_have_loaded(page):
    """A message typed while the page still loads the session list would be cleared with the old view."""
    held = []
    page.route(
        "**/api/sessions", lambda route: held.append(route)
    )  # the list's request waits here until released
    page.click("button[data-user=alice]")
    page.wait_for_selector("#user:has-text('signed in as alice')", timeout=WAIT_MS)
    while not held:  # the page asks for the list right after signing in
        page.wait_for_event("request", timeout=WAIT_MS)
    assert page.is_disabled("#ask textarea") and page.is_disabled("#ask button")
    assert page.is_disabled("#new-session")
    held[0].continue_()
    page.unroute("**/api/sessions")
    page.wait_for_selector("#ask textarea:enabled", timeout=WAIT_MS)
    assert ask(page, "hello once loaded").locator(".prompt").inner_text() == "hello once loaded"
