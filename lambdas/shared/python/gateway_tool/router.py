"""Dispatch an AgentCore Gateway call to the right tool, with validation, logging, tracing and metrics.

A handler module builds one `ToolRouter` from its tools.json, registers each implementation with
`@router.tool()`, and ends with `lambda_handler = router.build_handler()`. Registration of a name that is not
in tools.json, and a tools.json entry with no implementation, both raise `ToolSchemaError` at import, so a
drifted schema can never deploy. Every failure at call time becomes a structured error result, never an
exception, because an exception reaches the model only as an opaque gateway error.

Cold start: Powertools' `Tracer()` imports the X-Ray SDK even when tracing is disabled, so the router builds
a Tracer only when Powertools' own rule says tracing is on (in Lambda, unless POWERTOOLS_TRACE_DISABLED), and
then patches botocore only (the tools' one dependency) instead of every library X-Ray knows.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fastjsonschema
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from gateway_tool.caller import CALLER_ARGUMENT, Caller
from gateway_tool.errors import ErrorCode, ToolError, error_result
from gateway_tool.schema import ToolSchemaError, ToolSpec, load_tools, strip_prefix

ToolImpl = Callable[[dict[str, Any]], dict[str, Any]]
LambdaHandler = Callable[[Any, Any], dict[str, Any]]

TOOL_NAME_KEY = "bedrockAgentCoreToolName"
GATEWAY_LOG_KEYS = {
    "bedrockAgentCoreGatewayId": "gateway_id",
    "bedrockAgentCoreTargetId": "gateway_target_id",
    "bedrockAgentCoreMessageVersion": "gateway_message_version",
    "bedrockAgentCoreAwsRequestId": "gateway_request_id",
    "bedrockAgentCoreMcpMessageId": "mcp_message_id",
}
"""Client-context keys the gateway sets, and the log keys they are injected as."""

DEFAULT_NAMESPACE = "AgentCoreTools"
TRACED_MODULES = ("botocore",)
"""What X-Ray patches when tracing is on: DynamoDB calls go through botocore; nothing else does I/O."""
_RETRYABLE_AWS_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def tracing_enabled() -> bool:
    """Powertools' own rule (`Tracer._is_tracer_disabled`), asked without building a Tracer.

    Building one imports `aws_xray_sdk.core` (and wrapt) even when tracing is off; asking the class does not.
    """
    return not Tracer._is_tracer_disabled()


def _botocore_error(exc: Exception) -> tuple[str, str | None] | None:
    """("client", AWS code) or ("core", None) for a botocore failure, else None.

    Looks botocore up in `sys.modules` instead of importing it: if botocore was never imported, `exc` cannot
    be one of its exceptions, and the router does not make every cold start pay for botocore's import.
    """
    errors = sys.modules.get("botocore.exceptions")
    if errors is None:
        return None
    if isinstance(exc, errors.ClientError):
        return "client", exc.response.get("Error", {}).get("Code", "Unknown")
    if isinstance(exc, errors.BotoCoreError):
        return "core", None
    return None


def _field_name(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """`data.items[0].sku` -> `items[0].sku` (the argument path as the model wrote it)."""
    name = exc.name or "data"
    return name.removeprefix("data").lstrip(".") or "arguments"


def describe_violation(exc: fastjsonschema.JsonSchemaValueException) -> tuple[str, str]:
    """Return (field, message) that names the offending argument and the rule it broke."""
    field, rule, rule_value, value = _field_name(exc), exc.rule, exc.rule_definition, exc.value
    subject = "arguments" if field == "arguments" else f"field '{field}'"
    if rule == "required" and isinstance(value, dict):
        missing = [name for name in rule_value if name not in value]
        where = "" if field == "arguments" else f" in '{field}'"
        return (missing[0] if missing else field), f"missing required field(s) {missing}{where}"
    if rule == "additionalProperties" and isinstance(exc.definition, dict) and isinstance(value, dict):
        allowed = sorted(exc.definition.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        return (extra[0] if extra else field), f"unknown field(s) {extra}; allowed fields are {allowed}"
    messages = {
        "type": f"{subject} must be of type {rule_value}, got {type(value).__name__}",
        "enum": f"{subject} must be one of {rule_value}, got {value!r}",
        "minimum": f"{subject} must be >= {rule_value}, got {value!r}",
        "maximum": f"{subject} must be <= {rule_value}, got {value!r}",
        "minLength": f"{subject} must be at least {rule_value} characters long",
        "maxLength": f"{subject} must be at most {rule_value} characters long",
        "minItems": f"{subject} must have at least {rule_value} items",
        "maxItems": f"{subject} must have at most {rule_value} items",
        "pattern": f"{subject} must match {rule_value}, got {value!r}",
    }
    return field, messages.get(str(rule), f"{subject}: {exc.message}")


class ToolRouter:
    """Owns one function's tool table (from tools.json) and its Powertools Logger, Tracer and Metrics."""

    def __init__(self, tools_path: Path | str, *, service: str) -> None:
        self.specs: dict[str, ToolSpec] = {spec.name: spec for spec in load_tools(tools_path)}
        self.service = os.environ.get("POWERTOOLS_SERVICE_NAME", service)
        self.logger = Logger(service=self.service)
        self.tracer: Tracer | None = (
            Tracer(service=self.service, patch_modules=TRACED_MODULES) if tracing_enabled() else None
        )
        self.metrics = Metrics(
            namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE), service=self.service
        )
        self._impls: dict[str, ToolImpl] = {}
        self._validators: dict[str, Callable[[Any], Any]] = {}

    def tool(self, name: str | None = None) -> Callable[[ToolImpl], ToolImpl]:
        """Register an implementation for a tools.json entry (defaults to the function's name)."""

        def register(func: ToolImpl) -> ToolImpl:
            tool_name = name or func.__name__
            if tool_name not in self.specs:
                raise ToolSchemaError(f"implementation {tool_name!r} has no entry in tools.json")
            if tool_name in self._impls:
                raise ToolSchemaError(f"tool {tool_name!r} is implemented twice")
            self._impls[tool_name] = func
            return func

        return register

    @property
    def implemented(self) -> frozenset[str]:
        """Names of the registered implementations (for parity tests)."""
        return frozenset(self._impls)

    def build_handler(self) -> LambdaHandler:
        """Check schema/implementation parity and return the Powertools-decorated Lambda entry point."""
        missing = sorted(set(self.specs) - set(self._impls))
        if missing:
            raise ToolSchemaError(f"tools.json declares tools with no implementation: {missing}")

        @self.metrics.log_metrics(capture_cold_start_metric=True)
        def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
            return self.dispatch(event, context)

        if self.tracer is not None:
            lambda_handler = self.tracer.capture_lambda_handler(capture_response=False)(lambda_handler)
        return self.logger.inject_lambda_context(clear_state=True)(lambda_handler)

    def _annotate(self, key: str, value: str) -> None:
        """Annotate the current trace segment, if tracing is on."""
        if self.tracer is not None:
            self.tracer.put_annotation(key, value)

    @contextmanager
    def _subsegment(self, tool: str) -> Iterator[None]:
        """An X-Ray subsegment `## <tool>` annotated with the tool name, if tracing is on."""
        if self.tracer is None:
            yield
            return
        with self.tracer.provider.in_subsegment(f"## {tool}") as subsegment:
            subsegment.put_annotation("tool", tool)
            yield

    def _validator(self, tool: str) -> Callable[[Any], Any]:
        """Compile a tool's schema on first use (keeps cold start to the tools actually called)."""
        if tool not in self._validators:
            schema = dict(self.specs[tool].input_schema)
            self._validators[tool] = fastjsonschema.compile(schema, use_default=True)
        return self._validators[tool]

    def _resolve_tool(self, context: Any) -> str:
        """Read and strip the gateway's prefixed tool name; log the gateway's ids alongside it."""
        client_context = getattr(context, "client_context", None)
        custom = getattr(client_context, "custom", None)
        if not isinstance(custom, Mapping) or not custom.get(TOOL_NAME_KEY):
            raise ToolError(
                ErrorCode.INVALID_REQUEST,
                f"no client context with '{TOOL_NAME_KEY}': only an AgentCore Gateway target may invoke this",
            )
        self.logger.append_keys(**{log_key: custom.get(key) for key, log_key in GATEWAY_LOG_KEYS.items()})
        if custom.get("bedrockAgentCoreAwsRequestId"):
            self.logger.set_correlation_id(custom["bedrockAgentCoreAwsRequestId"])
        prefixed = str(custom[TOOL_NAME_KEY])
        self.logger.append_keys(gateway_tool_name=prefixed)
        tool = strip_prefix(prefixed)
        if tool not in self._impls:
            raise ToolError(
                ErrorCode.UNKNOWN_TOOL, f"unknown tool {tool!r}; this target serves {sorted(self._impls)}"
            )
        return tool

    def _run(self, tool: str, event: Any) -> dict[str, Any]:
        """Validate the arguments, establish the verified caller (refuse without one), run the tool.

        Implementations find a `Caller` (not the raw dict) under `arguments["caller"]`.
        """
        if not isinstance(event, dict):
            raise ToolError(ErrorCode.INVALID_ARGUMENT, "arguments must be a JSON object")
        try:
            arguments = self._validator(tool)(copy.deepcopy(event))
        except fastjsonschema.JsonSchemaValueException as exc:
            field, message = describe_violation(exc)
            raise ToolError(ErrorCode.INVALID_ARGUMENT, message, field=field) from exc
        caller = Caller.of(arguments)
        self.logger.append_keys(**caller.log_keys())
        arguments[CALLER_ARGUMENT] = caller
        with self._subsegment(tool):
            return self._impls[tool](arguments)

    def dispatch(self, event: Any, context: Any) -> dict[str, Any]:
        """Route one gateway call; every outcome is a result dict (tool output or `{"error": ...}`)."""
        started = time.perf_counter()
        tool = "unknown"
        try:
            tool = self._resolve_tool(context)
            self.logger.append_keys(tool=tool)
            self._annotate("tool", tool)
            result = self._run(tool, event)
        except ToolError as exc:
            result = exc.to_result()
        except Exception as exc:
            result = self._failure(exc)
        self._record(tool, result, started)
        return result

    def _failure(self, exc: Exception) -> dict[str, Any]:
        """Turn an unexpected exception into a result: AWS refusals and outages, else a bug (logged)."""
        match _botocore_error(exc):
            case ("client", aws_code):
                retryable = aws_code in _RETRYABLE_AWS_CODES
                self.logger.exception("dependency call failed", extra={"aws_error_code": aws_code})
                return error_result(
                    ErrorCode.UNAVAILABLE if retryable else ErrorCode.INTERNAL,
                    f"the data store refused the request ({aws_code})"
                    + ("; retry shortly" if retryable else "; retrying will not help"),
                    dependency_error=aws_code,
                )
            case ("core", _):
                self.logger.exception("dependency unreachable")
                message = f"the data store is unreachable ({type(exc).__name__}); retry shortly"
                return error_result(ErrorCode.UNAVAILABLE, message)
        self.logger.exception("tool failed unexpectedly")  # a bug: one line for the model, traceback in logs
        return error_result(ErrorCode.INTERNAL, "the tool failed unexpectedly; retrying will not help")

    def _record(self, tool: str, result: dict[str, Any], started: float) -> None:
        """Emit one EMF metric set per call (dimension `tool`) and a log line with the outcome."""
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.metrics.add_dimension(name="tool", value=tool)
        self.metrics.add_metric(name="ToolInvocations", unit=MetricUnit.Count, value=1)
        self.metrics.add_metric(name="ToolLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        error = result.get("error") if isinstance(result.get("error"), dict) else None
        self.metrics.add_metric(name="ToolErrors", unit=MetricUnit.Count, value=1 if error else 0)
        if error:
            self.metrics.add_metadata(key="error_code", value=error["code"])
            self._annotate("error_code", error["code"])
            extra = {"error_code": error["code"], "error_message": error["message"]}
            self.logger.warning("tool call failed", extra=extra)
        else:
            self.logger.info("tool call succeeded", extra={"duration_ms": round(elapsed_ms, 2)})
