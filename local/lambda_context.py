"""A Lambda context shaped like the one AgentCore Gateway's Lambda targets receive, and a handler loader.

The gateway puts the prefixed tool name and its own ids in `context.client_context.custom`; everything else
mirrors `awslambdaric`'s LambdaContext closely enough for Powertools' Logger/Metrics/Tracer decorators.
Used by the handler tests and by `local_gateway` so both build the exact same context.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
SHARED_LAYER_DIR = LAMBDAS_DIR / "shared" / "python"
SEPARATOR = "___"


@dataclass
class ClientContext:
    """`context.client_context` as the Lambda runtime builds it from the invoke's ClientContext."""

    custom: dict[str, Any] | None
    client: Any = None
    env: dict[str, Any] | None = None


@dataclass
class LambdaContext:
    """The attributes handlers and Powertools read from a Lambda context."""

    function_name: str
    client_context: ClientContext | None
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "2025/01/01/[$LATEST]0123456789abcdef"
    identity: Any = None
    remaining_ms: int = 30_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def gateway_custom(target: str, tool: str) -> dict[str, str]:
    """The client-context `custom` map AgentCore Gateway sends with a tool call."""
    return {
        "bedrockAgentCoreToolName": f"{target}{SEPARATOR}{tool}",
        "bedrockAgentCoreGatewayId": "local-gateway-abcdefghij",
        "bedrockAgentCoreTargetId": f"{target.upper()[:10]:A<10}",
        "bedrockAgentCoreMessageVersion": "1.0",
        "bedrockAgentCoreAwsRequestId": str(uuid.uuid4()),
        "bedrockAgentCoreMcpMessageId": str(uuid.uuid4()),
    }


def gateway_context(target: str, tool: str, **overrides: Any) -> LambdaContext:
    """A gateway-shaped context for `<target>___<tool>`.

    Overrides: `bedrockAgentCore*` keys replace entries of `client_context.custom` (None removes one);
    `client_context=None` drops the client context entirely; any other key sets a context attribute.
    """
    custom: dict[str, Any] = gateway_custom(target, tool)
    attributes: dict[str, Any] = {"function_name": f"{target}-tools"}
    client_context: ClientContext | None = ClientContext(custom=custom)
    for key, value in overrides.items():
        if key.startswith("bedrockAgentCore"):
            if value is None:
                custom.pop(key, None)
            else:
                custom[key] = value
        elif key == "client_context":
            client_context = value
        else:
            attributes[key] = value
    return LambdaContext(client_context=client_context, **attributes)


def load_handler(function_dir: Path) -> ModuleType:
    """Import `<function_dir>/handler.py` under a unique module name (every function's file is handler.py)."""
    if str(SHARED_LAYER_DIR) not in sys.path:
        sys.path.insert(0, str(SHARED_LAYER_DIR))
    module_name = f"lambda_{function_dir.name}_handler"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, function_dir / "handler.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no handler.py in {function_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
