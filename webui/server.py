"""The chat page's server on 127.0.0.1: the static page, a small JSON API, and each turn relayed from the
agent to the page as it streams.

It holds each signed-in user's access token, keyed by a random session cookie (HttpOnly, SameSite=Strict);
the page never sees a token, so no script on it (nor anything in its storage) can leak one. Every request
passes `guard.refusal` first (its own host, same origin); every response carries a Content-Security-Policy
that allows only this server's own script and style files, no inline script, no other origin, and Trusted
Types with no policy, so that no HTML string can ever become DOM (the page builds its DOM node by node).

API (JSON; a turn's answer as NDJSON, one event a line):
    GET  /api/config                            stage, model, local users, who is signed in
    POST /api/sign-in   {username, password?, code?}    401 {message, code_needed?}
    POST /api/sign-out
    GET  /api/sessions                          the user's sessions, latest first
    GET  /api/sessions/<id>                     its turns with their events
    POST /api/turns     {prompt, session_id?}   `{"type": "session", "id", "turn"}`, then the agent's events
    GET  /api/sessions/<id>/turns/<n>/timeline  the turn's spans (local stage), `pending` until exported
"""

from __future__ import annotations

import http.cookies
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.http_server import JsonHandler, LocalServer
from scripts import invoke
from webui import guard
from webui.chat_target import ChatTarget, CodeNeeded
from webui.events import annotated
from webui.timeline import turn_timeline
from webui.transcripts import Transcripts

STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = "chat_session"
MAX_BODY_BYTES = 256 * 1024
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_STATIC_NAME = re.compile(r"^/static/([a-z][a-z0-9_-]*\.(?:js|css|svg))$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{33,100}$")  # what the runtime accepts
_SESSION_PATH = re.compile(r"^/api/sessions/([^/]+)$")
_TIMELINE_PATH = re.compile(r"^/api/sessions/([^/]+)/turns/(\d+)/timeline$")


class BadRequest(Exception):
    """A request the API refuses; the message is one line for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Login:
    username: str
    token: str


class ChatServer:
    """The page and its API for `chat` on 127.0.0.1 (`port`, 0: a free one; bound at once); `url` is what to
    open."""

    def __init__(self, chat: ChatTarget, transcripts: Transcripts, port: int = 0) -> None:
        self.chat, self.transcripts = chat, transcripts
        self._logins: dict[str, Login] = {}
        self._lock = threading.Lock()
        self._server = LocalServer(_handler_class(self), name="chat-page", port=port)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> ChatServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- signed-in users ---------------------------------------------------------------------------------

    def sign_in(self, username: str, password: str, code: str) -> tuple[str, Login]:
        token = self.chat.sign_in(username, password, code)
        cookie, login = secrets.token_urlsafe(32), Login(username, token)
        with self._lock:
            self._logins[cookie] = login
        return cookie, login

    def login(self, cookie: str | None) -> Login | None:
        with self._lock:
            return self._logins.get(cookie or "")

    def sign_out(self, cookie: str | None) -> None:
        with self._lock:
            self._logins.pop(cookie or "", None)

    # -- API ---------------------------------------------------------------------------------------------

    def config(self, login: Login | None) -> dict[str, Any]:
        return {
            "stage": self.chat.name,
            "model": self.chat.model,
            "users": list(self.chat.users),
            "user": login.username if login else None,
            "timeline": self.chat.traces is not None,
        }

    def session_turns(self, login: Login, session_id: str) -> list[dict[str, Any]]:
        return [
            {
                "turn": t["turn"],
                "prompt": t["prompt"],
                "events": t["events"],
                "done": t["ended_ns"] is not None,
            }
            for t in self.transcripts.turns(login.username, session_id)
        ]

    def timeline(self, login: Login, session_id: str, turn: int) -> dict[str, Any]:
        if self.chat.traces is None:
            reason = "spans of a deployed stage are in CloudWatch (Transaction Search), not on this machine"
            return {"status": "unavailable", "reason": reason}
        found = self.transcripts.turn(login.username, session_id, turn)
        if found is None:
            raise BadRequest(404, "no such turn")
        return turn_timeline(self.chat.traces, session_id, found["started_ns"], found["ended_ns"])

    def new_session_id(self) -> str:
        return f"{self.chat.name}-{uuid.uuid4()}"


def _handler_class(server: ChatServer) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def end_headers(self) -> None:
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            super().end_headers()

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            refused = guard.refusal(method, self.lowered_headers(), server.url)
            if refused:
                self.send_json(403, {"message": refused})
                return
            path = self.path.split("?", 1)[0]
            try:
                if method == "GET" and not path.startswith("/api/"):
                    self._static(path)
                elif method == "GET":
                    self._get(path)
                else:
                    self._post(path)
            except BadRequest as error:
                self.send_json(error.status, {"message": str(error)})

        def _static(self, path: str) -> None:
            name = "index.html" if path == "/" else (_STATIC_NAME.match(path) or [None, None])[1]
            file = STATIC_DIR / name if name else None
            if file is None or not file.is_file():
                raise BadRequest(404, "not found")
            kind = _STATIC_TYPES.get(file.suffix, "text/html; charset=utf-8")
            self.send_bytes(200, file.read_bytes(), {"Content-Type": kind})

        def _get(self, path: str) -> None:
            login = server.login(self._cookie())
            if path == "/api/config":
                self.send_json(200, server.config(login))
                return
            if login is None:
                raise BadRequest(401, "sign in first")
            if path == "/api/sessions":
                self.send_json(200, {"sessions": server.transcripts.sessions(login.username)})
            elif match := _TIMELINE_PATH.match(path):
                self.send_json(200, server.timeline(login, match[1], int(match[2])))
            elif match := _SESSION_PATH.match(path):
                self.send_json(200, {"id": match[1], "turns": server.session_turns(login, match[1])})
            else:
                raise BadRequest(404, "not found")

        def _post(self, path: str) -> None:
            body = self._json_body()
            if path == "/api/sign-in":
                self._sign_in(body)
            elif path == "/api/sign-out":
                server.sign_out(self._cookie())
                self.send_json(200, {}, {"Set-Cookie": f"{COOKIE}=; Max-Age=0; {_COOKIE_FLAGS}"})
            elif path == "/api/turns":
                login = server.login(self._cookie())
                if login is None:
                    raise BadRequest(401, "sign in first")
                self._turn(login, body)
            else:
                raise BadRequest(404, "not found")

        def _sign_in(self, body: dict[str, Any]) -> None:
            fields = [str(body.get(name) or "") for name in ("username", "password", "code")]
            try:
                cookie, login = server.sign_in(*fields)
            except CodeNeeded as needed:
                self.send_json(401, {"message": str(needed), "code_needed": True})
                return
            except invoke.Failure as failure:
                self.send_json(401 if failure.code == 3 else 502, {"message": str(failure)})
                return
            cookie_header = f"{COOKIE}={cookie}; {_COOKIE_FLAGS}"
            self.send_json(200, server.config(login), {"Set-Cookie": cookie_header})

        def _turn(self, login: Login, body: dict[str, Any]) -> None:
            prompt = body.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise BadRequest(400, "the prompt is empty")
            session_id = body.get("session_id") or server.new_session_id()
            if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
                raise BadRequest(400, "the session id must be 33-100 characters of A-Z, a-z, 0-9, _ and -")
            turn, _ = server.transcripts.begin(login.username, session_id, prompt)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            self._line({"type": "session", "id": session_id, "turn": turn})
            events: list[Any] = []
            try:
                for event in server.chat.turn(login.token, session_id, prompt):
                    events.append(annotated(event, server.chat.prices))
                    self._line(events[-1])
            except invoke.Failure as failure:
                signed_out = failure.code == 4  # the token expired or was refused: sign in again
                if signed_out:
                    server.sign_out(self._cookie())
                events.append({"type": "error", "error": "PageError", "message": str(failure)})
                self._line({**events[-1], "signed_out": signed_out})
            except OSError as error:  # the agent's stream broke off, or the page left
                events.append({"type": "error", "error": "StreamBroken", "message": str(error)})
                self._line(events[-1], quiet=True)
            finally:
                server.transcripts.finish(login.username, session_id, turn, events)

        def _line(self, event: Any, *, quiet: bool = False) -> None:
            try:
                self.wfile.write(json.dumps(event).encode() + b"\n")
                self.wfile.flush()
            except OSError:
                if not quiet:
                    raise

        def _json_body(self) -> dict[str, Any]:
            if int(self.headers.get("Content-Length") or 0) > MAX_BODY_BYTES:
                raise BadRequest(413, "the request is too large")
            try:
                body = json.loads(self.read_body() or b"{}")
            except ValueError:
                raise BadRequest(400, "the request is not JSON") from None
            if not isinstance(body, dict):
                raise BadRequest(400, "the request is not a JSON object")
            return body

        def _cookie(self) -> str | None:
            jar = http.cookies.SimpleCookie()
            try:
                jar.load(self.headers.get("Cookie") or "")
            except http.cookies.CookieError:
                return None
            morsel = jar.get(COOKIE)
            return morsel.value if morsel else None

    return Handler


_COOKIE_FLAGS = "Path=/; HttpOnly; SameSite=Strict"
