"""The allow-list enforced on every request the browser makes, not only on the URL the model asks for.

A page on an allowed site is untrusted: its script can navigate, open frames, fetch, open WebSockets or load
images from anywhere, and a redirect can send the browser on. Each such request is checked here, in the
browser's own network path (Playwright request interception over CDP), before it leaves the browser:
- `context.route("**/*")` sees the first request of every navigation, frame, fetch/XHR, subresource and worker
  of the context (Playwright attaches to out-of-process frames and workers) and aborts a disallowed one with
  `blockedbyclient`;
- Playwright continues redirect hops without asking the route handler, so a second CDP client on the page
  pauses every response (`Fetch.enable` at the Response stage, beside Playwright's Request stage) and fails a
  3xx whose `Location` leaves the allow-list before the browser follows it;
- `context.route_web_socket` closes a WebSocket to a disallowed host before it connects (routing does not see
  WebSockets);
- service workers cannot register: the script Playwright's `service_workers="block"` installs, added to the
  context, because the session's default context (AgentCore's, reached over CDP) accepts no context options;
- a backstop for the hops the page-level client cannot pause (a redirect inside an out-of-process frame):
  every request the browser reports is checked, and a page that reached a disallowed host is refused.
Hosts are parsed as Chromium parses them (browser_allowlist.py).

Not covered (no request is made): DNS prefetches and preconnects a page asks for; WebRTC's ICE traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from ada_url import join_url

from .browser_allowlist import SOCKET_SCHEMES, url_allowed, url_host

logger = logging.getLogger(__name__)

# Playwright's own script for service_workers="block" (that option cannot be set on this context).
NO_SERVICE_WORKERS = (
    "if (self.ServiceWorkerContainer) ServiceWorkerContainer.prototype.register = "
    "async () => { console.warn('Service Worker registration blocked'); };"
)
_REDIRECT = frozenset({301, 302, 303, 307, 308})
_EVERY_SOCKET = re.compile(r".*")


class RequestGuard:
    """The allow-list of one browser context; what it blocked since `begin()` (a navigation) is kept.

    All its handlers run on the browser loop, as do the session's calls to it: no lock is needed.
    """

    def __init__(self, domains: tuple[str, ...]) -> None:
        self.domains = domains
        self.blocked: list[str] = []  # hosts whose requests were refused, in order, once each
        self.left_for: str | None = None  # the host a refused navigation of the main frame was going to
        self.escaped: list[str] = []  # disallowed hosts a request reached anyway (see the module docstring)
        self._main_frame_id: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def install(self, context: Any, page: Any) -> None:
        """Guard `context` (every page of it) and, for redirect hops, `page`; before any page is opened."""
        await context.add_init_script(NO_SERVICE_WORKERS)
        await context.route("**/*", self._route)
        await context.route_web_socket(_EVERY_SOCKET, self._web_socket)
        context.on("request", self._reported)
        cdp = await context.new_cdp_session(page)
        self._main_frame_id = (await cdp.send("Page.getFrameTree"))["frameTree"]["frame"]["id"]
        cdp.on("Fetch.requestPaused", lambda event: self._spawn(self._response(cdp, event)))
        await cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Response"}]})

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

    async def _route(self, route: Any) -> None:
        request = route.request
        # Never raises: the page may be gone, and a failing handler would stall the request.
        with contextlib.suppress(Exception):
            if url_allowed(request.url, self.domains):
                await route.continue_()
                return
            self._block(request.url, navigation=request.is_navigation_request() and _in_main_frame(request))
            await route.abort("blockedbyclient")

    async def _web_socket(self, socket: Any) -> None:
        with contextlib.suppress(Exception):
            if url_allowed(socket.url, self.domains, SOCKET_SCHEMES):
                socket.connect_to_server()
                return
            self._block(socket.url, navigation=False)
            await socket.close(code=1008, reason="not an allowed site")

    async def _response(self, cdp: Any, event: dict[str, Any]) -> None:
        """A paused response: a redirect off the allow-list fails before the browser follows it."""
        target = _redirect_target(event)
        with contextlib.suppress(Exception):
            if target is not None and not url_allowed(target, self.domains):
                main = event.get("frameId") == self._main_frame_id
                self._block(target, navigation=main and event.get("resourceType") == "Document")
                refusal = {"requestId": event["requestId"], "errorReason": "BlockedByClient"}
                await cdp.send("Fetch.failRequest", refusal)
                return
            await cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})

    def _reported(self, request: Any) -> None:
        if request.redirected_from is not None and not url_allowed(request.url, self.domains):
            host = url_host(request.url) or request.url[:100]
            self.escaped.append(host)
            logger.warning("browser redirect to %s was not intercepted; the page is refused", host)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)


def _in_main_frame(request: Any) -> bool:
    try:
        return request.frame.parent_frame is None
    except Exception:  # a service worker's request has no frame
        return False


def _redirect_target(event: dict[str, Any]) -> str | None:
    """The absolute URL a paused 3xx response redirects to, or None."""
    if event.get("responseStatusCode") not in _REDIRECT:
        return None
    headers = event.get("responseHeaders") or ()
    location = next((h["value"] for h in headers if h.get("name", "").lower() == "location"), None)
    if location is None:
        return None
    try:
        return join_url(event["request"]["url"], location)
    except ValueError:
        return location
