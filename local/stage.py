"""One stage on one machine: the emulators wired together and the real agent process in front of them.

Built from the synthesized dev stage (`dev_stage`): the agent gets the dev Runtime's environment with every
deploy-time value replaced by a local one, the tool handlers get their functions' environment, and the
tables are created as declared. What runs:

- `dynamodb`: moto server with the tool tables (saved under the state directory on stop);
- `identity`: the OIDC issuer (JWKS + Cognito InitiateAuth for the local users) and the Identity data plane;
- `memory`: SQLite-backed Memory behind the same `bedrock-agentcore` endpoint as Identity (`data_plane`);
- `browser`: the Browser data plane on that endpoint too, each session a local headless Chromium, when
  Chromium is installed and the dev stage allows sites (BROWSER_ALLOWED_DOMAINS, as in the cloud);
- `gateway`: the MCP gateway in front of the real Lambda handlers (lexical tool search);
- `model`: `scripted` (local ConverseStream), `bedrock` (the developer's credentials) or `openai`;
- `traces`: OTLP receiver keeping every export in `<state>/traces.otlp`;
- `agent`: `python -m local.agent_process` under `opentelemetry-instrument`, logs in `<state>/agent.log`;
- `page`: the chat page (`webui/`), signing in through the local issuer as the scripts do.
Code Interpreter is off: model-written code never runs unsandboxed on the developer's machine. What is off
(and why) is one line at start-up and a note in the agent's system prompt, so the agent says so when asked.

Start-up is ordered for speed: the agent process (the slowest part: its imports) is launched as soon as the
endpoints it is configured with exist, and the tables and the gateway (whose imports are the next slowest)
start in this process while it boots.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local import dev_stage, stage_lock
from local.lambda_context import LAMBDAS_DIR, REPO_ROOT
from local.scripted_replies import local_note

if str(REPO_ROOT / "agent_src") not in sys.path:  # the launcher reads the agent's default system prompt
    sys.path.insert(0, str(REPO_ROOT / "agent_src"))

from local.bedrock_runtime import ConverseStreamServer
from local.browser import LocalBrowser
from local.chromium import chromium_path
from local.data_plane import DataPlane
from local.http_server import bound_socket
from local.identity_server import IdentityServer
from local.memory_store import MemoryStore
from local.oidc_issuer import OidcIssuer
from local.traces import TraceReceiver
from local.users import local_users, machine_claims

if TYPE_CHECKING:
    from local.dynamodb import LocalDynamoDB

MODELS = ("bedrock", "openai", "scripted")
USER_CLIENT_ID = "local-user-client"
M2M_CLIENT_ID = "local-gateway-client"
MEMORY_ID = "local_memory-abcdefghij"
BROWSER_ID = "local_browser-abcdefghij"
POOL_ID = "us-east-1_LocalPool"
STAGE_FILE = "stage.json"
WORKLOAD_NAME = "local-agent"
OPENAI_KEY_PROVIDER = "local-openai-key"
CODE_OFF = "code execution is off (model-written code is never run unsandboxed on this machine)"
# Deploy-time ids the local stage leaves out when their tool is off: the Code Interpreter's always, the
# Browser's unless the local Browser runs.
OFF_LOCALLY = frozenset({"CODE_INTERPRETER_ID", "BROWSER_ID"})
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
_CREDENTIAL_VARIABLES = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "HOME",
)


class LocalStageError(Exception):
    """The local stage cannot start; the message is one line for the developer."""


@dataclass
class Options:
    state_dir: Path
    cdk_out: Path
    model: str | None = None  # None: bedrock when AWS credentials are found, else scripted
    agent_port: int = 8080
    page_port: int = 8081  # the chat page's; 0: a free port the system chooses
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    instrument: bool = True  # run the agent under opentelemetry-instrument (traces), as in the image


def choose_model(choice: str | None, environ: Mapping[str, str]) -> str:
    """The model to run; an unknown choice is a one-line error."""
    if choice:
        if choice not in MODELS:
            raise LocalStageError(f"MODEL={choice!r} is not one of {', '.join(MODELS)}")
        return choice
    return "bedrock" if _has_aws_credentials(environ) else "scripted"


def _has_aws_credentials(environ: Mapping[str, str]) -> bool:
    """Whether botocore's credential chain finds credentials in `environ` (no instance-metadata probe)."""
    import botocore.session

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({**environ, "AWS_EC2_METADATA_DISABLED": "true"})
    try:
        return botocore.session.Session().get_credentials() is not None
    except Exception:  # a broken profile is "no usable credentials": the scripted model runs
        return False
    finally:
        os.environ.clear()
        os.environ.update(saved)


class LocalStage:
    """Start with `start(say)`, stop with `stop()`; `agent_url` is the agent's root URL once started (with
    `agent_port` 0, the port the system chose)."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.state_dir = options.state_dir
        self.model = choose_model(options.model, options.environ)
        self.agent_url = ""
        self.page_url = ""
        self._stack = ExitStack()
        self._agent: subprocess.Popen[bytes] | None = None
        self._dynamodb: LocalDynamoDB | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self, say: Callable[[str], None]) -> str:
        """Start every component (one `say` line each); returns the agent's invocation URL. Refused while
        another stage runs in the same state directory (before anything is started or cleaned up)."""
        if stage_lock.is_running(self.state_dir):
            raise LocalStageError(
                f"a local stage is already running in {self.state_dir}; "
                "stop it first (Ctrl-C in its terminal)"
            )
        try:
            return self._start(say)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the agent (SIGINT, then SIGKILL), save the tables, stop the emulators. Idempotent."""
        try:
            self._stop_agent()
            if self._dynamodb is not None:
                self._dynamodb.save()
                self._dynamodb = None
        finally:
            self._stack.close()  # removes the stage file first, if this stage wrote one

    def wait(self) -> int:
        """Block until the agent process ends; its exit status."""
        assert self._agent is not None
        return self._agent.wait()

    # -- components --------------------------------------------------------------------------------------

    def _start(self, say: Callable[[str], None]) -> str:
        """The endpoints the agent is configured with, then the agent process, then (while it boots) the
        tables and the gateway, then wait for its /ping."""
        stage = dev_stage.load(self.options.cdk_out)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = stage_lock.hold(self.state_dir)  # released when this process and the agent are gone
        self._stack.callback(os.close, self._lock)
        agent_socket = self._bind_agent_socket()
        self._stack.callback(agent_socket.close)  # closed at launch; this covers a failure before it
        self.agent_url = f"http://127.0.0.1:{agent_socket.getsockname()[1]}"
        runtime_env = stage.runtime_environment
        region = str(runtime_env.get("AWS_DEFAULT_REGION") or "us-east-1")
        namespaces = json.loads(str(runtime_env.get("MEMORY_NAMESPACES") or "{}"))

        issuer = self._stack.enter_context(OidcIssuer(POOL_ID))
        users = local_users(self.state_dir)
        issuer.users, issuer.client_ids = users, frozenset({USER_CLIENT_ID})
        scopes = str(runtime_env.get("GATEWAY_SCOPES") or "")
        gateway_token = issuer.mint(
            sub=M2M_CLIENT_ID, client_id=M2M_CLIENT_ID, scope=scopes, expires_in=86_400, **machine_claims()
        )
        # The OpenAI key (MODEL=openai) is served like the deployed API-key provider serves it: to the agent's
        # workload token only. It is read from the developer's OPENAI_API_KEY, never put in the agent's env.
        api_keys = {OPENAI_KEY_PROVIDER: self.options.environ.get("OPENAI_API_KEY") or "no-key"}
        identity = IdentityServer(
            access_token=gateway_token, workload_token="local-workload-access-token", api_keys=api_keys
        )
        self._stack.callback(identity.stop)
        identity.start()
        roles = ", ".join(f"{u.username} ({_role(u.claims)})" for u in users.values())
        say(f"identity  {issuer.issuer}  OIDC issuer + Cognito login; users: {roles}")

        store = MemoryStore(self.state_dir / "memory.sqlite3", memory_id=MEMORY_ID, namespaces=namespaces)
        self._stack.callback(store.close)
        browser, browser_off = self._browser(runtime_env)
        plane = DataPlane(memory=store, identity_url=identity.endpoint_url, browser=browser).start()
        self._stack.callback(plane.stop)
        say(f"memory    {plane.endpoint_url}  SQLite {store.path} (long-term extraction emulated)")
        if browser is not None:
            self._stack.callback(browser.close)
            say(
                f"browser   {plane.endpoint_url}  a headless Chromium per session ({browser.executable}); "
                f"allowed sites: {runtime_env['BROWSER_ALLOWED_DOMAINS']}"
            )

        model_env = self._model_environment(say)
        traces = TraceReceiver(self.state_dir).start()
        self._stack.callback(traces.stop)
        say(f"traces    {traces.path}  (python -m local spans)")
        off = [CODE_OFF] + ([f"web browsing is off ({browser_off})"] if browser_off else [])
        say(f"off       {'; '.join(off)}")

        gateway_socket = bound_socket()
        self._stack.callback(gateway_socket.close)
        # Bound now, served once moto has loaded (while the agent boots): the agent's token budget is told
        # the URL at launch.
        dynamodb_socket = bound_socket()
        dynamodb_socket.listen(socket.SOMAXCONN)
        self._stack.callback(dynamodb_socket.close)
        dynamodb_url = f"http://127.0.0.1:{dynamodb_socket.getsockname()[1]}"
        local_values = {
            "AWS_DEFAULT_REGION": region,
            "OIDC_DISCOVERY_URL": issuer.discovery_url,
            "ALLOWED_CLIENTS": USER_CLIENT_ID,
            "MEMORY_ID": MEMORY_ID,
            **stage.agent_tables,
            "GATEWAY_URL": f"http://127.0.0.1:{gateway_socket.getsockname()[1]}/mcp",  # checked below
            **({"BROWSER_ID": BROWSER_ID} if browser is not None else {}),
        }
        environment = stage.agent_environment(local_values, OFF_LOCALLY)
        environment["SYSTEM_PROMPT"] = _system_prompt(environment, off)
        environment.update(model_env)
        environment.update(self._process_environment(region, plane.endpoint_url, traces.endpoint_url))
        environment["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_url
        self._launch_agent(environment, agent_socket)

        from local.dynamodb import LocalDynamoDB  # moto and the MCP SDK load while the agent boots
        from local.gateway import JwtAuthorizer, gateway_url, running_gateway

        assert environment["GATEWAY_URL"] == gateway_url(gateway_socket)
        os.environ.update(_LAMBDA_AWS_ENV | {"AWS_DEFAULT_REGION": region, "AWS_REGION": region})
        self._dynamodb = dynamodb = LocalDynamoDB(self.state_dir, stage.tables, region, sock=dynamodb_socket)
        dynamodb.start()
        self._stack.callback(dynamodb.stop)
        assert dynamodb.endpoint_url == dynamodb_url
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_url
        os.environ.update(stage.function_environment)
        counts = ", ".join(f"{t.name} ({self._count(t.name)} items)" for t in stage.tables)
        say(f"dynamodb  {dynamodb.endpoint_url}  moto server: {counts}")

        # The deployed gateway's authorization: CUSTOM_JWT for the stage's user and machine clients, then
        # the REQUEST interceptor (lambdas/interceptor), the Cedar policies (policies/*.cedar), the target.
        authorizer = JwtAuthorizer(issuer.issuer, frozenset({USER_CLIENT_ID}), frozenset({M2M_CLIENT_ID}))
        served = self._stack.enter_context(
            running_gateway(authorizer=authorizer, lambdas_dir=LAMBDAS_DIR, sock=gateway_socket)
        )
        say(
            f"gateway   {served}  real handlers of {_targets()}; search: lexical (BM25); authorization: "
            f"{self._authorization()}"
        )
        self._wait_for_agent()
        assert self._agent is not None
        say(
            f"agent     {self.agent_url}  python -m agentcore_agent (pid {self._agent.pid}, log "
            f"{self.state_dir / 'agent.log'})"
        )
        self._write_stage_file(region, issuer.base_url)
        self.page_url = self._serve_page(environment)
        say(f"page      {self.page_url}  the chat page; sign in as {', '.join(users)}")
        return f"{self.agent_url}/invocations"

    def _serve_page(self, environment: Mapping[str, str]) -> str:
        """The chat page on 127.0.0.1, bound at once (a taken port is refused here, with the way out)."""
        from webui.local_stage import serving

        port = self.options.page_port
        try:
            page = self._stack.enter_context(
                serving(self.state_dir / STAGE_FILE, self.model, environment, port)
            )
        except OSError:
            raise LocalStageError(
                f"port {port} is in use (another make local?); stop it, or choose another port for the page "
                "with LOCAL_PAGE_PORT=<port> (0: any free port)"
            ) from None
        return page.url

    def _browser(self, runtime_env: Mapping[str, Any]) -> tuple[LocalBrowser | None, str | None]:
        """The local Browser, or None and why the tool is off: like the cloud, it needs allowed sites."""
        domains = runtime_env.get("BROWSER_ALLOWED_DOMAINS")
        if not isinstance(domains, str) or not domains.strip():
            return None, "the dev stage allows no sites: set browser_allowed_domains for dev in cdk.json"
        executable = chromium_path()
        if executable is None:
            return None, "no Chromium is installed here: apt-get install chromium"
        return LocalBrowser(BROWSER_ID, executable=executable, profiles_dir=self.state_dir / "browser"), None

    def _count(self, table: str) -> int:
        assert self._dynamodb is not None
        return int(self._dynamodb.client().scan(TableName=table, Select="COUNT")["Count"])

    def _authorization(self) -> str:
        """What the gateway enforces, as the deployed one does."""
        return "CUSTOM_JWT + REQUEST interceptor + Cedar policies (policies/*.cedar)"

    def _model_environment(self, say: Callable[[str], None]) -> dict[str, str]:
        """Endpoint configuration (and, for bedrock, credentials) for the chosen model."""
        environ = self.options.environ
        if self.model == "scripted":
            bedrock = ConverseStreamServer().start()
            self._stack.callback(bedrock.stop)
            say(f"model     scripted  {bedrock.endpoint_url} (deterministic replies, no LLM)")
            return {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.endpoint_url, **_DUMMY_CREDENTIALS}
        if self.model == "bedrock":
            say("model     bedrock  the real Bedrock with your AWS credentials (the only cloud call)")
            return {name: environ[name] for name in _CREDENTIAL_VARIABLES if name in environ}
        model = environ.get("OPENAI_MODEL")
        if not model:
            raise LocalStageError("MODEL=openai needs OPENAI_MODEL (and OPENAI_BASE_URL for a local server)")
        base_url = environ.get("OPENAI_BASE_URL")
        say(f"model     openai  {model} at {base_url or 'api.openai.com'} (key served by local Identity)")
        return {
            "MODEL_PROVIDER": "openai",
            "MODEL_ID": model,
            "OPENAI_API_KEY_PROVIDER": OPENAI_KEY_PROVIDER,
            **({"OPENAI_BASE_URL": base_url} if base_url else {}),
            **_DUMMY_CREDENTIALS,
        }

    def _process_environment(self, region: str, data_plane: str, traces: str) -> dict[str, str]:
        """What the Runtime's container gets besides its settings: endpoints, paths, OpenTelemetry."""
        base = {
            name: value
            for name, value in self.options.environ.items()
            if name in ("PATH", "LANG", "LC_ALL", "TMPDIR", "HOME")
        }
        otel = {
            "OTEL_PYTHON_DISTRO": "distro",
            "OTEL_PYTHON_CONFIGURATOR": "configurator",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        return {
            **base,
            **(otel if self.options.instrument else {}),
            "AWS_REGION": region,
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": data_plane,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "agent_src")]),
            "PYTHONUNBUFFERED": "1",
        }

    def _launch_agent(self, environment: dict[str, str], sock: socket.socket) -> None:
        """Start the agent serving on `sock`, which it inherits; this process closes its own copy, so the
        port is free again as soon as the agent exits."""
        agent_dir = self.state_dir / "agent"
        agent_dir.mkdir(exist_ok=True)
        # The SDK's outside-a-runtime path reads the workload identity from .agentcore.json in its cwd and
        # asks Identity for a workload token with it (the Runtime passes that token in a header instead).
        (agent_dir / ".agentcore.json").write_text(
            json.dumps({"workload_identity_name": WORKLOAD_NAME, "user_id": "local"})
        )
        command = [sys.executable, "-m", "local.agent_process", "--fd", str(sock.fileno())]
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        if self.options.instrument and instrument.exists():
            command = [str(instrument), *command]
        log = (self.state_dir / "agent.log").open("ab")
        self._stack.callback(log.close)
        try:
            self._agent = subprocess.Popen(
                command,
                cwd=agent_dir,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(), self._lock),  # the lock lives while the agent does
            )
        finally:
            sock.close()

    def _wait_for_agent(self) -> None:
        assert self._agent is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._healthy():
            if self._agent.poll() is not None:
                raise LocalStageError(
                    f"the agent exited with status {self._agent.returncode}: {self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise LocalStageError(f"the agent did not answer /ping within {READY_TIMEOUT_SECONDS:g}s")
            time.sleep(0.05)  # a readiness probe of another process, not test synchronisation

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.agent_url}/ping", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def _stop_agent(self) -> None:
        agent, self._agent = self._agent, None
        if agent is None or agent.poll() is not None:
            return
        agent.send_signal(signal.SIGINT)
        try:
            agent.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()

    def _bind_agent_socket(self) -> socket.socket:
        """The agent's listening socket, bound here and handed to the agent process (`_launch_agent`): a port
        chosen now and bound later by the agent could be taken in between (the local DynamoDB's ephemeral
        port once was). Port 0 lets the system choose. SO_REUSEADDR, as uvicorn binds: the TIME_WAIT
        connections a stopped stage leaves on its port for a minute must not block a restart. Proto
        IPPROTO_TCP, so that the agent's accepted connections get TCP_NODELAY (`bound_socket`)."""
        port = self.options.agent_port
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(socket.SOMAXCONN)
        except OSError:
            sock.close()
            raise LocalStageError(
                f"port {port} is in use (another make local?); stop it, or choose another port with "
                "LOCAL_AGENT_PORT=<port> (0: any free port)"
            ) from None
        return sock

    def _log_tail(self) -> str:
        lines = (self.state_dir / "agent.log").read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def _write_stage_file(self, region: str, issuer_url: str) -> None:
        """What `scripts/invoke.py --local` needs: where the agent is and how to log in."""
        stage = {
            "invocation_url": f"{self.agent_url}/invocations",
            "region": region,
            "user_client_id": USER_CLIENT_ID,
            "cognito_endpoint": issuer_url,
            "users_file": str(self.state_dir / "users.json"),
        }
        (self.state_dir / STAGE_FILE).write_text(json.dumps(stage, indent=2))
        self._stack.callback((self.state_dir / STAGE_FILE).unlink, missing_ok=True)


def reset(state_dir: Path) -> None:
    """Forget the local stage's state (tables, memory, users, traces, logs); a stage that ended without a
    clean stop (its stage.json left over, its processes gone) is no obstacle."""
    if stage_lock.is_running(state_dir):
        raise LocalStageError(
            f"the local stage in {state_dir} is running; stop it first (Ctrl-C in its terminal)"
        )
    shutil.rmtree(state_dir, ignore_errors=True)


_DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
_LAMBDA_AWS_ENV = {
    **_DUMMY_CREDENTIALS,
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally; spans come from the agent's OpenTelemetry
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _role(claims: Mapping[str, object]) -> str:
    groups = claims.get("cognito:groups") or []
    customer = claims.get("customer_id")
    return f"customer {customer}" if customer else ",".join(map(str, groups)) or "user"


def _targets() -> str:
    return ", ".join(sorted(path.parent.name for path in LAMBDAS_DIR.glob("*/tools.json")))


def _system_prompt(environment: Mapping[str, str], off: list[str]) -> str:
    """The stage's prompt and a note on what is off locally, so that the agent says so when asked for it."""
    from agentcore_agent.settings import DEFAULT_SYSTEM_PROMPT

    return f"{environment.get('SYSTEM_PROMPT') or DEFAULT_SYSTEM_PROMPT}\n\n{local_note(off)}"
