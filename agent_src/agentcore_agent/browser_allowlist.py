"""Which URLs the browser may request: parsed as Chromium parses them, matched against the stage's allow-list.

The URL a model asks for is attacker-controlled text (prompt injection), so the host that is checked must be
the host Chromium will connect to. `urllib.parse` follows RFC 3986 and disagrees with browsers: for
`https://evil.com\\@docs.aws.amazon.com/` it finds the host `docs.aws.amazon.com`, while a browser (WHATWG URL
standard: a backslash is a path separator in http(s) URLs) goes to `evil.com`. Why ada-url: it is the WHATWG
URL parser Node.js ships, tested against the standard's web-platform tests; it strips tabs and newlines,
decodes percent-encoded hosts, lowercases and IDNA-encodes them, and refuses what a browser refuses. Nothing
here is hand-written parsing.

Rule (BROWSER_ALLOWED_DOMAINS, lowercase ASCII names): `example.com` allows exactly that host,
`*.example.com` any of its subdomains (not `example.com` itself). Only http(s) pages (and, for a page's own
WebSockets, ws(s)) may be requested; `javascript:`, `data:`, `file:`, `chrome:` and the rest are refused.
"""

from __future__ import annotations

from ada_url import URL

WEB_SCHEMES = frozenset({"http:", "https:"})
SOCKET_SCHEMES = frozenset({"ws:", "wss:"})


def _any_scheme(url: str) -> URL | None:
    try:
        return URL(url)
    except ValueError:  # ada's answer for anything a browser refuses to parse
        return None


def parse(url: str, schemes: frozenset[str] = WEB_SCHEMES) -> URL | None:
    """`url` as a browser parses it, or None when it is no valid absolute URL of one of `schemes`."""
    parsed = _any_scheme(url)
    return parsed if parsed is not None and parsed.protocol in schemes else None


def url_host(url: str, schemes: frozenset[str] = WEB_SCHEMES) -> str | None:
    """The host Chromium would connect to for `url` (lowercase, IDNA-encoded, no trailing dot), or None."""
    parsed = parse(url, schemes)
    if parsed is None or not parsed.hostname:
        return None
    host = parsed.hostname
    return host[:-1] if host.endswith(".") else host  # `example.com.` is `example.com` (DNS root)


def host_allowed(host: str | None, domains: tuple[str, ...]) -> bool:
    """`example.com` allows exactly that host, `*.example.com` any of its subdomains."""
    if not host:
        return False
    for domain in domains:
        if domain.startswith("*."):
            if host.endswith(domain[1:]):
                return True
        elif host == domain:
            return True
    return False


def url_allowed(url: str, domains: tuple[str, ...], schemes: frozenset[str] = WEB_SCHEMES) -> bool:
    """Whether the browser may send a request to `url`."""
    return host_allowed(url_host(url, schemes), domains)


def check_url(url: object, domains: tuple[str, ...]) -> str | None:
    """Why `url` may not be opened, or None."""
    if not isinstance(url, str) or not url.strip():
        return "browse_web needs a `url` for this action."
    if _any_scheme(url) is None:
        return f"{url!r} is not a valid URL."
    if parse(url) is None:
        return f"only http(s) pages can be opened, not {url!r}."
    host = url_host(url)
    if not host_allowed(host, domains):
        return (
            f"{host or url!r} is not an allowed site. Allowed: {', '.join(domains)}. "
            "Answer without it or use an allowed site."
        )
    return None


def normalized(url: str) -> str:
    """The URL exactly as the browser will request it (so that what was checked is what is opened)."""
    parsed = parse(url)
    if parsed is None:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return parsed.href
