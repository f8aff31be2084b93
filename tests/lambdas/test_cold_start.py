"""Cold-start behaviour of the shared router: what a handler import loads, and tracing when it is on.

Each case runs in a fresh interpreter (`sys.modules` in the test process already holds everything) with the
variables the Lambda runtime defines, as bench/bench_lambdas.py does.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from local.lambda_context import LAMBDAS_DIR, REPO_ROOT, SHARED_LAYER_DIR

TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

REPORT_IMPORTS = """
import json, sys
from local.lambda_context import load_handler, LAMBDAS_DIR
module = load_handler(LAMBDAS_DIR / {function!r})
prefixes = ("aws_xray_sdk", "boto3", "s3transfer", "botocore.session", "botocore.client", "pydantic",
            "aws_lambda_powertools.utilities.validation", "wrapt")
loaded = {{p for p in prefixes for name in sys.modules if name == p or name.startswith(p + ".")}}
print(json.dumps({{"traced": module.router.tracer is not None, "loaded": sorted(loaded)}}))
"""

INVOKE_TRACED = """
import json, sys
from moto import mock_aws
from local.lambda_context import gateway_context, load_handler, LAMBDAS_DIR

with mock_aws():
    module = load_handler(LAMBDAS_DIR / "inventory")
    from aws_xray_sdk.core import patcher
    from tests.lambdas.conftest import TABLE_DEFINITIONS  # after the handler: it defaults tracing off

    client = module.dynamodb_client()
    client.create_table(**TABLE_DEFINITIONS["inventory"])
    client.put_item(TableName="inventory-test", Item={"sku": {"S": "SKU-1001"}, "available": {"N": "3"}})
    caller = {"sub": "sub-operator", "role": "operator"}
    context = gateway_context("inventory", "check_stock")
    result = module.lambda_handler({"sku": "SKU-1001", "caller": caller}, context)
    print(json.dumps({"result": result, "patched": sorted(patcher._PATCHED_MODULES)}))
"""


def lambda_env(**overrides: str) -> dict[str, str]:
    """A Lambda-like environment (runtime-defined variables plus what the tools stack sets)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(SHARED_LAYER_DIR), str(REPO_ROOT)]),
            "LAMBDA_TASK_ROOT": str(LAMBDAS_DIR),
            "AWS_LAMBDA_FUNCTION_NAME": "inventory-tools",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "POWERTOOLS_METRICS_NAMESPACE": "AgentCoreTools",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "INVENTORY_TABLE_NAME": "inventory-test",
            "ORDERS_TABLE_NAME": "orders-test",
        }
    )
    env.pop("_X_AMZN_TRACE_ID", None)
    env.update(overrides)
    return env


def run(code: str, env: dict[str, str]) -> Any:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", ["orders", "inventory"])
def test_tracing_off_imports_neither_xray_nor_boto3(function: str) -> None:
    report = run(REPORT_IMPORTS.format(function=function), lambda_env(POWERTOOLS_TRACE_DISABLED="true"))
    assert report == {"traced": False, "loaded": []}


def test_outside_lambda_tracing_is_off_as_powertools_decides() -> None:
    env = lambda_env()
    del env["LAMBDA_TASK_ROOT"]
    report = run(REPORT_IMPORTS.format(function="orders"), env)
    assert report == {"traced": False, "loaded": []}


def test_tracing_on_builds_the_tracer_at_init_but_leaves_the_client_for_first_use() -> None:
    report = run(REPORT_IMPORTS.format(function="orders"), lambda_env())
    assert report["traced"] is True
    assert "aws_xray_sdk" in report["loaded"] and "botocore.client" in report["loaded"]
    assert not {"boto3", "s3transfer", "botocore.session", "pydantic"} & set(report["loaded"])


def test_tracing_on_traces_the_handler_the_tool_and_its_dynamodb_calls() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{daemon.getsockname()[1]}"
        env = lambda_env(AWS_XRAY_DAEMON_ADDRESS=address, _X_AMZN_TRACE_ID=TRACE_HEADER)
        outcome = run(INVOKE_TRACED, env)
        # The handler's process has exited: every datagram it sent over loopback is already queued here.
        daemon.setblocking(False)
        segments = []
        with contextlib.suppress(BlockingIOError):
            while True:
                header, body = daemon.recv(65536).decode().split("\n", 1)
                assert json.loads(header) == {"format": "json", "version": 1}
                segments.append(json.loads(body))
    assert outcome["result"]["sku"] == "SKU-1001" and outcome["result"]["available"] == 3
    assert outcome["patched"] == ["botocore"]
    by_name = {segment["name"]: segment for segment in segments}
    assert {"## lambda_handler", "## check_stock", "dynamodb"} <= set(by_name), sorted(by_name)
    assert by_name["## check_stock"]["annotations"] == {"tool": "check_stock"}
    assert by_name["## lambda_handler"]["annotations"]["tool"] == "check_stock"
    assert by_name["## lambda_handler"]["annotations"]["ColdStart"] is True
    dynamodb_calls = [s for s in segments if s["name"] == "dynamodb"]
    (get_item,) = [s for s in dynamodb_calls if s["aws"]["operation"] == "GetItem"]
    assert get_item["parent_id"] == by_name["## check_stock"]["id"]  # the call sits under its tool
    assert all(s["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793" for s in segments)


def test_tracing_enabled_follows_powertools_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway_tool.router import tracing_enabled

    for name in ("POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert not tracing_enabled()
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert tracing_enabled()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    assert not tracing_enabled()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    assert not tracing_enabled()
