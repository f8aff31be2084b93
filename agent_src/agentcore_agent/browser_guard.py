"""The allow-list enforced on every request the browser makes, not only on the URL the model asks for.

A page on an allowed site is untrusted: its script can navigate, open frames, fetch, start workers, open
WebSockets or load images from anywhere, and a redirect can send the browser on. Each such request is checked
here, in the browser's own network path, before it leaves the browser:
- a CDP client on the *browser* target pauses every request of the browser before it is sent (`Fetch.enable`,
  Request stage), each redirect hop included (a paused request with `redirectedRequestId`), and fails one to
  another host;
- `context.route_web_socket` closes a WebSocket to a disallowed host before it connects (Fetch does not see
  WebSockets);
- service workers cannot register: the script Playwright's `service_workers="block"` installs, added to the
  context, because the session's default context (AgentCore's, reached over CDP) accepts no context options;
- a backstop: every response the browser reports is checked, and a page whose redirect reached a disallowed
  host is refused (it holds should the interception ever miss a hop).
Hosts are parsed as Chromium parses them (browser_allowlist.py).

Why the browser target, not the page's: Fetch on a target intercepts only that target's requests, and an
out-of-process frame (a frame of another site, under site isolation) or a shared worker is a target of its
own. Playwright's `context.route` attaches to frames and dedicated workers, but continues every redirect hop
unasked and never sees a shared worker. Attaching to each new target (`Target.setAutoAttach` with
`waitForDebuggerOnStart`, or `new_cdp_session(frame)`) would have to win a race against the target's first
response, or hold it through relayed messages; the browser target's interception covers every target the
browser has or will have, from the moment it is enabled, so there is no window in which a response slips by.
If the browser refuses it, the session does not start (fail closed).

Not covered (no request is made): DNS prefetches and preconnects a page asks for; WebRTC's ICE traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from .browser_allowlist import SOCKET_SCHEMES, url_allowed, url_host

logger = logging.getLogger(__name__)

# Playwright's own script for service_workers="block" (that option cannot be set on this context).
NO_SERVICE_WORKERS = (
    "if (self.ServiceWorkerContainer) ServiceWorkerContainer.prototype.register = "
    "async () => { console.warn('Service Worker registration blocked'); };"
)
_EVERY_SOCKET = re.compile(r".*")


class RequestGuard:
    """The allow-list of one browser (its pages, frames, workers); what it blocked since `begin()` is kept.

    All its handlers run on the browser loop, as do the session's calls to it: no lock is needed.
    """

    def __init__(self, domains: tuple[str, ...]) -> None:
        self.domains = domains
        self.blocked: list[str] = []  # hosts whose requests were refused, in order, once each
        self.left_for: str | None = None  # the host a refused navigation of the main frame was going to
        self.escaped: list[str] = []  # disallowed hosts a request reached anyway (see the module docstring)
        self._main_frame_id: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def install(self, browser: Any, context: Any, page: Any) -> None:
        """Guard every request of `browser`; `page` is the one the model reads. Before any page is opened."""
        await context.add_init_script(NO_SERVICE_WORKERS)
        await context.route_web_socket(_EVERY_SOCKET, self._web_socket)
        context.on("response", self._reported)  # not "request": a hop failed here is reported as one too
        page_cdp = await context.new_cdp_session(page)
        self._main_frame_id = (await page_cdp.send("Page.getFrameTree"))["frameTree"]["frame"]["id"]
        await page_cdp.detach()
        cdp = await browser.new_browser_cdp_session()
        cdp.on("Fetch.requestPaused", lambda event: self._spawn(self._paused(cdp, event)))
        await cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]})

    def begin(self) -> None:
        """A navigation starts: forget what the previous page had blocked."""
        self.blocked, self.left_for, self.escaped = [], None, []

    def refusal(self, page_url: str) -> str | None:
        """Why the page now at `page_url` may not be shown to the model, or None."""
        if self.escaped:
            return f"the page reached {self.escaped[0]!r} through a redirect, which is not an allowed site."
        if url_allowed(page_url, self.domains):
            return None
        host = url_host(page_url) or self.left_for or page_url
        return f"the page went to {host!r}, which is not an allowed site; it was not loaded."

    def _block(self, url: str, *, navigation: bool) -> None:
        host = url_host(url) or url_host(url, SOCKET_SCHEMES) or url[:100]
        if host not in self.blocked:
            self.blocked.append(host)
        if navigation:
            self.left_for = host
        logger.info("browser request to %s refused (not an allowed site)", host)

    async def _web_socket(self, socket: Any) -> None:
        with contextlib.suppress(Exception):
            if url_allowed(socket.url, self.domains, SOCKET_SCHEMES):
                socket.connect_to_server()
                return
            self._block(socket.url, navigation=False)
            await socket.close(code=1008, reason="not an allowed site")

    async def _paused(self, cdp: Any, event: dict[str, Any]) -> None:
        """A paused request (a first request or a redirect hop) fails if its URL leaves the allow-list."""
        url = event["request"]["url"]
        # Never raises: the target may be gone, and a failing handler would stall the request.
        with contextlib.suppress(Exception):
            if not url_allowed(url, self.domains):
                main = event.get("frameId") == self._main_frame_id
                self._block(url, navigation=main and event.get("resourceType") == "Document")
                refusal = {"requestId": event["requestId"], "errorReason": "BlockedByClient"}
                await cdp.send("Fetch.failRequest", refusal)
                return
            await cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})

    def _reported(self, response: Any) -> None:
        request = response.request
        if request.redirected_from is not None and not url_allowed(request.url, self.domains):
            host = url_host(request.url) or request.url[:100]
            self.escaped.append(host)
            logger.warning("browser redirect to %s was not intercepted; the page is refused", host)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)
