"""The agent process of the local stage: the container's entry point, bound to 127.0.0.1.

`python -m local.agent_process --port 8080` runs `agentcore_agent.__main__.main`, the function the image's
`CMD` runs, with the same environment-driven settings; only the listen address differs (loopback, so the
local agent is not reachable from the network).
"""

from __future__ import annotations

import argparse
import sys

from agentcore_agent.__main__ import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    sys.exit(main(host="127.0.0.1", port=parser.parse_args().port))
