"""Spans for the agent's own calls to AgentCore Memory and Gateway, inside the turn's trace.

Strands traces the agent invocation, each model call and each tool call (with the agent's `trace_attributes`,
so `session.id` is on them); ADOT's botocore instrumentation adds one span per AWS call. Our memory and
gateway calls run on worker threads so the turn can stop waiting at a deadline, and a plain
`executor.submit` starts the thread with an empty `contextvars` context: the current span is lost and the
botocore spans become root spans of their own, invisible from the session's trace. So:

* `submit_in_context` / `run_in_executor` run a call in a copy of the caller's context, which carries the
  current span (and the SDK's request context, e.g. the workload access token);
* `span` / `traced` add one small span per operation carrying `session.id`, the operation and the resource
  (memory id, gateway stage, tool name): never the prompt, record texts or tool arguments (no PII beyond
  what Strands itself records).

The tracer comes from the global provider, which ADOT installs before the app starts (a proxy until then).

`without_send_receive_spans(app)`: ADOT's Starlette instrumentation wraps the app in the ASGI middleware,
which adds a span for every ASGI message besides the request's server span: one `http send` per SSE event
of the answer (hundreds for a long streamed answer, each exported and stored) and one `http receive` per
body chunk. They time nothing of ours. The middleware can leave them out (`exclude_spans`), but the
instrumentation does not pass that option, so it is set on the installed middleware before its first request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

T = TypeVar("T")

SESSION_ID = "session.id"  # the attribute Strands puts on its spans (from the agent's trace_attributes)

_tracer = trace.get_tracer(__name__)
ASGI_INSTRUMENTATION = "OpenTelemetryMiddleware"  # opentelemetry.instrumentation.asgi


def without_send_receive_spans(app: Any) -> Any:
    """Make the instrumentation's ASGI middleware on this Starlette `app` (if any) record one server span
    per request, not one more per message; returns `app`."""
    for middleware in app.user_middleware:
        if getattr(middleware.cls, "__name__", "") == ASGI_INSTRUMENTATION:
            middleware.kwargs["exclude_spans"] = ["receive", "send"]
    return app


@contextlib.contextmanager
def span(
    name: str, session_id: str | None, attributes: Mapping[str, AttributeValue] | None = None
) -> Iterator[trace.Span]:
    """A current INTERNAL span with `session.id`; an exception is recorded on it (error status), re-raised."""
    span_attributes: dict[str, AttributeValue] = dict(attributes or {})
    if session_id:
        span_attributes[SESSION_ID] = session_id
    kind = trace.SpanKind.INTERNAL
    with _tracer.start_as_current_span(name, kind=kind, attributes=span_attributes) as current:
        yield current


def traced(
    name: str,
    session_id: str | None,
    call: Callable[[], T],
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Callable[[], T]:
    """`call` wrapped in `span(name, ...)`, started when the wrapper runs.

    Run the wrapper on the worker thread (in the caller's context, see below): the span then measures the
    call itself and is the parent of the call's botocore spans.
    """

    @functools.wraps(call)
    def run() -> T:
        with span(name, session_id, attributes):
            return call()

    return run


@contextlib.contextmanager
def detached() -> Iterator[None]:
    """No current span inside: for long-lived work started during one turn but serving later turns too."""
    token = otel_context.attach(otel_context.Context())
    try:
        yield
    finally:
        otel_context.detach(token)


def submit_in_context(
    executor: concurrent.futures.Executor, call: Callable[[], T]
) -> concurrent.futures.Future[T]:
    """`executor.submit(call)` in a copy of the caller's context, so the thread sees the current span."""
    return executor.submit(contextvars.copy_context().run, call)


def run_in_executor(executor: concurrent.futures.Executor, call: Callable[[], T]) -> asyncio.Future[T]:
    """`loop.run_in_executor(executor, call)` in a copy of the caller's context (for the same reason)."""
    return asyncio.get_running_loop().run_in_executor(executor, contextvars.copy_context().run, call)
