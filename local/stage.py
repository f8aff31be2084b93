"""One stage on one machine: the emulators wired together and the real agent process in front of them.

Built from the synthesized dev stage (`dev_stage`): the agent gets the dev Runtime's environment with every
deploy-time value replaced by a local one, the tool handlers get their functions' environment, and the
tables are created as declared. What runs:

- `dynamodb`: moto server with the tool tables (saved under the state directory on stop);
- `identity`: the OIDC issuer (JWKS + Cognito InitiateAuth for the local users) and the Identity data plane;
- `memory`: SQLite-backed Memory behind the same `bedrock-agentcore` endpoint as Identity (`data_plane`);
- `gateway`: the MCP gateway in front of the real Lambda handlers (lexical tool search);
- `model`: `scripted` (local ConverseStream), `bedrock` (the developer's credentials) or `openai`;
- `traces`: OTLP receiver writing `<state>/traces.jsonl`;
- `agent`: `python -m local.agent_process` under `opentelemetry-instrument`, logs in `<state>/agent.log`.
Code Interpreter and Browser are off: model-written code never runs unsandboxed on the developer's machine,
and the local stage does not drive a browser yet; the agent's system prompt says so.
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

from local import dev_stage
from local.lambda_context import LAMBDAS_DIR, REPO_ROOT

if str(REPO_ROOT / "agent_src") not in sys.path:  # the launcher reads the agent's default system prompt
    sys.path.insert(0, str(REPO_ROOT / "agent_src"))

from local.bedrock_runtime import ScriptedBedrock
from local.data_plane import DataPlane
from local.dynamodb import LocalDynamoDB
from local.gateway import JwtAuthorizer, bound_socket, gateway_url, running_gateway
from local.identity_server import IdentityServer
from local.memory_store import MemoryStore
from local.oidc_issuer import OidcIssuer
from local.traces import TraceReceiver
from local.users import local_users

MODELS = ("bedrock", "openai", "scripted")
USER_CLIENT_ID = "local-user-client"
M2M_CLIENT_ID = "local-gateway-client"
MEMORY_ID = "local_memory-abcdefghij"
POOL_ID = "us-east-1_LocalPool"
STAGE_FILE = "stage.json"
WORKLOAD_NAME = "local-agent"
OPENAI_KEY_PROVIDER = "local-openai-key"
LOCAL_PROMPT_NOTE = (
    "Local stage: code execution and web browsing are off (model-written code is never run unsandboxed on "
    "this machine); if asked for them, say they are unavailable locally."
)
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalStage:
    """Start with `start(say)`, stop with `stop()`; `agent_url` is the agent's root URL once started."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.state_dir = options.state_dir
        self.model = choose_model(options.model, options.environ)
        self.agent_url = f"http://127.0.0.1:{options.agent_port}"
        self._stack = ExitStack()
        self._agent: subprocess.Popen[bytes] | None = None
        self._dynamodb: LocalDynamoDB | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self, say: Callable[[str], None]) -> str:
        """Start every component (one `say` line each); returns the agent's invocation URL."""
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
            (self.state_dir / STAGE_FILE).unlink(missing_ok=True)
            self._stack.close()

    def wait(self) -> int:
        """Block until the agent process ends; its exit status."""
        assert self._agent is not None
        return self._agent.wait()

    # -- components --------------------------------------------------------------------------------------

    def _start(self, say: Callable[[str], None]) -> str:
        """The HTTP emulators first, then the agent process (it boots while the tables and the gateway's
        handlers load in this process: the two slowest steps overlap), then wait for its /ping."""
        stage = dev_stage.load(self.options.cdk_out)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._check_port_free()
        runtime_env = stage.runtime_environment
        region = str(runtime_env.get("AWS_DEFAULT_REGION") or "us-east-1")
        namespaces = json.loads(str(runtime_env.get("MEMORY_NAMESPACES") or "{}"))

        issuer = self._stack.enter_context(OidcIssuer(POOL_ID))
        users = local_users(self.state_dir)
        issuer.users, issuer.client_ids = users, frozenset({USER_CLIENT_ID})
        scopes = str(runtime_env.get("GATEWAY_SCOPES") or "")
        gateway_token = issuer.mint(
            sub=M2M_CLIENT_ID, client_id=M2M_CLIENT_ID, scope=scopes, expires_in=86_400
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
        plane = DataPlane(memory=store, identity_url=identity.endpoint_url).start()
        self._stack.callback(plane.stop)
        say(f"memory    {plane.endpoint_url}  SQLite {store.path} (long-term extraction emulated)")

        model_env = self._model_environment(say)
        traces = TraceReceiver(self.state_dir).start()
        self._stack.callback(traces.stop)
        say(f"traces    {traces.path}  (python -m local spans)")
        say("off       code interpreter, browser (never run model-written code unsandboxed locally)")

        gateway_socket = bound_socket()
        self._stack.callback(gateway_socket.close)
        local_values = {
            "AWS_DEFAULT_REGION": region,
            "OIDC_DISCOVERY_URL": issuer.discovery_url,
            "ALLOWED_CLIENTS": USER_CLIENT_ID,
            "MEMORY_ID": MEMORY_ID,
            "GATEWAY_URL": gateway_url(gateway_socket),
        }
        environment = stage.agent_environment(local_values, OFF_LOCALLY)
        environment["SYSTEM_PROMPT"] = _system_prompt(environment)
        environment.update(model_env)
        environment.update(self._process_environment(region, plane.endpoint_url, traces.endpoint_url))
        self._launch_agent(environment)

        os.environ.update(_LAMBDA_AWS_ENV | {"AWS_DEFAULT_REGION": region, "AWS_REGION": region})
        self._dynamodb = dynamodb = LocalDynamoDB(self.state_dir, stage.tables, region).start()
        self._stack.callback(dynamodb.stop)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb.endpoint_url
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
        return f"{self.agent_url}/invocations"

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
            bedrock = ScriptedBedrock().start()
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

    def _launch_agent(self, environment: dict[str, str]) -> None:
        agent_dir = self.state_dir / "agent"
        agent_dir.mkdir(exist_ok=True)
        # The SDK's outside-a-runtime path reads the workload identity from .agentcore.json in its cwd and
        # asks Identity for a workload token with it (the Runtime passes that token in a header instead).
        (agent_dir / ".agentcore.json").write_text(
            json.dumps({"workload_identity_name": WORKLOAD_NAME, "user_id": "local"})
        )
        command = [sys.executable, "-m", "local.agent_process", "--port", str(self.options.agent_port)]
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        if self.options.instrument and instrument.exists():
            command = [str(instrument), *command]
        log = (self.state_dir / "agent.log").open("ab")
        self._stack.callback(log.close)
        self._agent = subprocess.Popen(
            command, cwd=agent_dir, env=environment, stdout=log, stderr=subprocess.STDOUT
        )

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

    def _check_port_free(self) -> None:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", self.options.agent_port))
            except OSError:
                raise LocalStageError(
                    f"port {self.options.agent_port} is in use (another make local?); stop it first"
                ) from None

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


def reset(state_dir: Path) -> None:
    """Forget the local stage's state (tables, memory, users, traces, logs)."""
    if (state_dir / STAGE_FILE).exists():
        raise LocalStageError(f"the local stage is running ({state_dir / STAGE_FILE} exists); stop it first")
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


def _system_prompt(environment: Mapping[str, str]) -> str:
    from agentcore_agent.settings import DEFAULT_SYSTEM_PROMPT

    return f"{environment.get('SYSTEM_PROMPT') or DEFAULT_SYSTEM_PROMPT}\n\n{LOCAL_PROMPT_NOTE}"
