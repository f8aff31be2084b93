"""Container entry point: `python -m agentcore_agent` (under `opentelemetry-instrument` in the image).

A bad environment prints one line on stderr and exits with status 2 so the runtime's logs say what to fix.
"""

from __future__ import annotations

import logging
import os
import sys

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


def main() -> int:
    """Parse the environment, build the app and serve until stopped."""
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as error:
        print(f"agentcore_agent: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging()
    from .app import create_app  # imported after validation so a bad environment fails in milliseconds

    create_app(settings).run(port=PORT, host=HOST)
    return 0


if __name__ == "__main__":
    sys.exit(main())
