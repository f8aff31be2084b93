"""The agent process of the local stage: the container's entry point, serving a socket the stage bound.

`python -m local.agent_process --fd N` runs `agentcore_agent.__main__.main`, the function the image's `CMD`
runs, with the same environment-driven settings; only the listener differs: a loopback socket (so the local
agent is not reachable from the network) that the stage bound and handed over, so that its port is known, and
held, before this process starts (no other server can take it in between).
"""

from __future__ import annotations

import argparse
import socket
import sys

from agentcore_agent.__main__ import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="an inherited listening TCP socket")
    listening = socket.socket(fileno=parser.parse_args().fd)  # family, type and proto read from the fd
    sys.exit(main(host="127.0.0.1", sock=listening))
