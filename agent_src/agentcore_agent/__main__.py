"""Container entry point: `python -m agentcore_agent` (under `opentelemetry-instrument` in the image).

A bad environment prints one line on stderr and exits with status 2 so the runtime's logs say what to fix.
`wire_app` is the production wiring (tests build the app through it too): gateway tools when GATEWAY_URL is
set, memory hooks when MEMORY_ID is set, both keyed by the verified JWT `sub` and the runtime session id, and
the `execute_python` tool when CODE_INTERPRETER_ID is set (one sandbox per agent, see code_interpreter.py),
and the `browse_web` tool when BROWSER_ID and BROWSER_ALLOWED_DOMAINS are set (one browser session per agent,
see browser.py).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .settings import Settings, SettingsError

HOST = "0.0.0.0"  # the runtime reaches the container on its network interface
PORT = 8080  # fixed by the AgentCore Runtime HTTP contract


def configure_logging() -> None:
    """JSON log lines with request/session ids, the same format the SDK uses for its own logger."""
    from bedrock_agentcore.runtime.app import RequestContextFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(RequestContextFormatter())
    package_logger = logging.getLogger("agentcore_agent")
    package_logger.addHandler(handler)
    package_logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    package_logger.propagate = False


def wire_app(
    settings: Settings,
    *,
    model_factory: Callable[[Settings], Any] | None = None,
    retry_factory: Callable[[], Any] | None = None,
) -> tuple[Any, Callable[[], None]]:
    """Build the app with gateway tools, memory hooks and the code interpreter as configured.

    Returns `(app, close)`. `close()` closes the per-user gateway sessions and stops every code
    interpreter and browser session; call it after the server stops. Raises `SettingsError` when the
    gateway is configured incompletely (so `main` exits with status 2).
    """
    from . import redacted_tracing
    from .app import create_app
    from .gateway_client import Gateway
    from .gateway_tools import GatewayToolSearch
    from .memory_hooks import memory_hooks_factory

    redacted_tracing.install()  # before the first agent: Strands reads its tracer at construction
    gateway: Gateway | None = None
    if settings.gateway_url:
        try:
            gateway = Gateway.from_settings(settings)
        except ValueError as error:
            raise SettingsError(str(error)) from None

    def hooks_factory(settings: Settings, session_id: str, actor_id: str) -> Sequence[Any]:
        """Per (actor, session): memory first (restores history), then the per-turn tool search."""
        hooks: list[Any] = list(memory_hooks_factory(settings, session_id, actor_id))
        if gateway is not None:
            hooks.append(GatewayToolSearch(gateway, session_id=session_id, actor_id=actor_id))
        return hooks

    interpreter = None
    if settings.code_interpreter_id:
        from .code_interpreter import CodeInterpreterTool

        interpreter = CodeInterpreterTool.from_settings(settings)
    browser = None
    if settings.browser_enabled:
        from .browser import BrowserTool  # Playwright loads only when the browser tool is on

        browser = BrowserTool.from_settings(settings)
    session_tools = [t for t in (interpreter, browser) if t is not None]
    tools = [t.tool for t in session_tools]

    budget = None
    if settings.token_budget_table:
        from .token_budget import TokenBudget

        budget = TokenBudget.from_settings(settings)
    app = create_app(
        settings,
        model_factory=model_factory,
        tools=tools,
        hooks_factory=hooks_factory,
        retry_factory=retry_factory,
        budget=budget,
    )
    warm_app = app.state.warm_up

    def warm_up() -> None:
        """The app's warm-up, then the clients of memory and gateway that a first turn would build."""
        warm_app()
        if settings.memory_id:
            from .memory_hooks import _shared_client

            _shared_client(settings.region)
        if gateway is not None:
            from .gateway_client import tls_context

            tls_context()

    app.state.warm_up = warm_up

    def close() -> None:
        """Release what outlives a request: the gateway sessions, then interpreter and browser sessions."""
        try:
            if gateway is not None:
                gateway.close()
        finally:
            for session_tool in session_tools:
                try:
                    session_tool.close()
                except Exception:
                    logging.getLogger(__name__).exception("could not close %s", type(session_tool).__name__)

    return app, close


WARM_UP_THREAD = "agentcore-warm-up"


def start_warm_up(app: Any) -> threading.Thread:
    """Run `app.state.warm_up` on a daemon thread while the server starts.

    Every AgentCore session is a fresh process, so whatever a first turn builds (the issuer's keys, the
    model's and memory's boto3 clients: ~100-300 ms of loading service models and resolving credentials)
    is paid by every session. Built here, it overlaps the server's start and the runtime's first `/ping`;
    a request that comes sooner waits for the same object (each is built once, under a lock). A failure
    is logged and left to the first request, which tries again.
    """

    def run() -> None:
        try:
            app.state.warm_up()
        except Exception:
            logging.getLogger(__name__).exception("start-up warm-up failed (the first request retries)")

    thread = threading.Thread(target=run, name=WARM_UP_THREAD, daemon=True)
    thread.start()
    return thread


def serve_on_socket(app: Any, sock: socket.socket) -> None:
    """What `app.run` does, on a listening socket bound by the caller. Not `uvicorn.run(fd=...)`: it rebuilds
    the socket as AF_UNIX, and asyncio then sets no TCP_NODELAY on the connections (a 40 ms delayed-ACK
    stall on each response)."""
    import uvicorn

    debug = bool(getattr(app, "debug", False))
    config = uvicorn.Config(app, access_log=debug, log_level="info" if debug else "warning")
    uvicorn.Server(config).run(sockets=[sock])


def main(*, host: str = HOST, port: int = PORT, sock: socket.socket | None = None) -> int:
    """Parse the environment, build the app and serve until stopped: on `host`:`port` (the image), or on a
    socket the caller bound (`make local`, which must know the port before the agent starts)."""
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as error:
        print(f"agentcore_agent: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging()
    try:
        app, close = wire_app(settings)  # imports happen after validation: a bad environment fails fast
    except SettingsError as error:
        print(f"agentcore_agent: configuration error: {error}", file=sys.stderr)
        return 2
    start_warm_up(app)
    try:
        if sock is None:
            app.run(port=port, host=host)
        else:
            serve_on_socket(app, sock)
    finally:
        close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
