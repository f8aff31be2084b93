"""Benchmark of the agent's optional features: installed size of its dependencies, cold start with every tool.

    python bench/bench_agent_tools.py [--cold-starts 5] [--skip-size] [--record | --output FILE]

(1) Installed size: a fresh virtualenv (uv) with exactly `agent_src/requirements.txt`, measured on disk
    (site-packages), with its largest packages. Goal ≤ 350 MB, so the image stays quick to pull on a cold
    start. For comparison, the same set plus `strands-agents-tools` (the library the AgentCore overview
    uses for its browser tool), which the agent does not use.
(2) Cold start: process start → first healthy `GET /ping` of the app as `__main__` wires it with every
    optional feature configured (OpenAI model through AgentCore Identity, `execute_python`, `browse_web`),
    bare and under `opentelemetry-instrument`. Goal ≤ 1.5 s. Nothing is called at start: sessions, the
    API key and Playwright's driver are all started on first use.

The same file is the server entry (`--serve agent-tools --port N`). Timings are a measurement, never a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import reporting  # bench/reporting.py (this directory is on sys.path when a bench runs)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_agent  # the cold-start harness: start/stop a server flavour, timed to its first healthy /ping

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "agent_src" / "requirements.txt"
SIZE_GOAL_MB = 350
COMPARISON = "strands-agents-tools==0.8.10"
TOOLS_ENV = {
    "AWS_REGION": "us-east-1",
    "MODEL_PROVIDER": "openai",
    "MODEL_ID": "gpt-4o-mini",
    "OPENAI_API_KEY_PROVIDER": "agentcore-bench-openai",
    "CODE_INTERPRETER_ID": "agentcore_bench_code-AbCdEf1234",
    "BROWSER_ID": "agentcore_bench_browser-AbCdEf1234",
    "BROWSER_ALLOWED_DOMAINS": "docs.aws.amazon.com",
}


def serve(port: int) -> None:
    """The production wiring with every optional feature on (no AWS is called before the first request)."""
    sys.path[:0] = [str(ROOT), str(ROOT / "agent_src")]
    from agentcore_agent.__main__ import wire_app
    from agentcore_agent.settings import Settings

    app, close = wire_app(Settings.from_env(TOOLS_ENV))
    try:
        app.run(port=port, host="127.0.0.1")
    finally:
        close()


def installed_mb(requirements: list[str]) -> tuple[float, list[tuple[str, float]]]:
    """Size of site-packages of a fresh venv with `requirements` (uv), and its five largest entries."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise SystemExit("uv not found (it is in requirements-dev.txt)")
    with tempfile.TemporaryDirectory(prefix="agent-deps-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        environment = {**os.environ, "VIRTUAL_ENV": str(venv)}
        subprocess.run([uv, "pip", "install", "-q", *requirements], check=True, env=environment)
        (site,) = venv.glob("lib/python*/site-packages")
        sizes = [(entry.name, _mb(entry)) for entry in site.iterdir()]
        return sum(size for _, size in sizes), sorted(sizes, key=lambda item: -item[1])[:5]


def _mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def cold_starts(runs: int, *, otel: bool) -> list[float]:
    times = []
    for _ in range(runs):
        process, _, seconds = bench_agent.start("agent-tools", otel=otel, script=Path(__file__).resolve())
        bench_agent.stop(process)
        times.append(seconds)
    return times


Sizes = dict[str, tuple[float, list[tuple[str, float]]]]


def report(size: Sizes, cold: dict[str, list[float]], runs: int) -> str:
    lines = [
        "# Agent options benchmark (installed size, cold start with every tool)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f}.",
        "Reproduce: `make bench` (runs `python bench/bench_agent_tools.py`). The image is linux/arm64; sizes",
        "here are of this machine's wheels (arm64 wheels of the same packages are of similar size).",
        "",
    ]
    if size:
        agent_mb, largest = size["agent"]
        fits_goal = reporting.verdict(agent_mb <= SIZE_GOAL_MB, "agent size")
        lines += [
            "## Installed size of the agent's dependencies (fresh venv, `agent_src/requirements.txt`)",
            "",
            "| Set | site-packages | Goal ≤ 350 MB |",
            "|---|---|---|",
            f"| `agent_src/requirements.txt` | {agent_mb:.0f} MB | {fits_goal} |",
        ]
        if "comparison" in size:
            other = size["comparison"][0]
            fits = "would fit (not a goal: not used)" if other <= SIZE_GOAL_MB else "would not fit (not used)"
            lines.append(f"| the same + `{COMPARISON}` (not used) | {other:.0f} MB | {fits} |")
        lines += ["", "Largest packages: " + ", ".join(f"`{n}` {mb:.0f} MB" for n, mb in largest) + ".", ""]
    lines += [
        f"## Cold start with every optional feature configured (median of {runs})",
        "",
        "| Launch | Median | Min | Max | Goal ≤ 1.5 s |",
        "|---|---|---|---|---|",
    ]
    launches = (("bare", "`python`"), ("otel", "`opentelemetry-instrument python` (exporters `none`)"))
    for name, label in launches:
        median = statistics.median(cold[name])
        started = reporting.verdict(median <= bench_agent.COLD_START_GOAL_S, f"{name} cold start, every tool")
        lines.append(
            f"| {label} | {median:.3f} s | {min(cold[name]):.3f} s | {max(cold[name]):.3f} s | {started} |"
        )
    lines += [
        "",
        "Configured: OpenAI model (key from AgentCore Identity), `execute_python`, `browse_web`. Their",
        "sessions, the API key and Playwright's driver process start on first use, not at start-up.",
        "Numbers vary with machine load; compare runs from the same machine only.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--skip-size", action="store_true", help="skip the (network-using) install size")
    reporting.add_arguments(parser, "agent_tools")
    parser.add_argument("--serve", choices=["agent-tools"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port)
        return 0
    if args.cold_starts < 1:
        parser.error("--cold-starts must be ≥ 1")
    size: Sizes = {}
    if not args.skip_size:
        size["agent"] = installed_mb(["-r", str(REQUIREMENTS)])
        size["comparison"] = installed_mb(["-r", str(REQUIREMENTS), COMPARISON])
    cold = {name: cold_starts(args.cold_starts, otel=name == "otel") for name in ("bare", "otel")}
    text = report(size, cold, args.cold_starts)
    reporting.emit(text, args)
    return reporting.status()


if __name__ == "__main__":
    sys.exit(main())
