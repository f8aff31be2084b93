"""Which requests the chat server answers: its own page's, from this machine, and no other site's.

The server holds a signed-in user's token and acts with it, so a request from any other web site (a link,
a form, a script on a page the user visits) must not reach it (CSRF), and neither may a page served under
another host name that resolves to 127.0.0.1 (DNS rebinding). Browsers say where a request comes from:
`Host` must be the server's own address, `Sec-Fetch-Site` (when sent) `same-origin` (or `none`: the user
typed the address), and every request that changes something (not GET) must carry the page's own `Origin`.
The session cookie is `SameSite=Strict` as well, so another site's request carries no session either.
"""

from __future__ import annotations

from collections.abc import Mapping

SAFE_METHODS = frozenset({"GET", "HEAD"})


def refusal(method: str, headers: Mapping[str, str], origin: str) -> str | None:
    """Why the request is refused (one line), or None to answer it; `headers` have lower-cased names and
    `origin` is the server's own, e.g. http://127.0.0.1:8081."""
    host = origin.split("://", 1)[1]
    if headers.get("host") != host:
        return f"this page is served at {origin} only"
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return "cross-site requests are refused"
    if method not in SAFE_METHODS and headers.get("origin") != origin:
        return "cross-origin requests are refused"
    return None
