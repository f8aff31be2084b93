"""The AgentCore Runtime entrypoint: authenticate, validate, then stream the agent's answer as SSE.

HTTP contract of `POST /invocations` (served by `BedrockAgentCoreApp` on port 8080):
- 200 `text/event-stream`; each event is a JSON object with a `type`:
  `{"type": "text", "text": ...}` (answer deltas, in order), `{"type": "tool", "name": ...}` (a tool is used),
  `{"type": "tool_result", ...}` (its arguments and result), `{"type": "usage", ...}` (the turn's tokens, just
  before `end`; both: `stream_events`), `{"type": "end", "stop_reason": ...}` (the answer is complete), or
  `{"type": "error", "error": <code>, "message": ..., "retryable": ..., "session_id": ..., "request_id": ...}`
  (the model failed, or the turn went stale before its stream started: `SessionBusy`; the stream ends after
  it; the conversation is left as it was before the failed turn).
- 4xx/5xx `application/json` `{"error": <code>, "message": <one line>}` before any answer is produced.
  Checked by `http_boundary.InvocationGuard` before the body is read, in this order: 401 Unauthorized
  (missing/invalid/expired token, a malformed claim, or an app client not allowed), 503 AuthUnavailable (keys
  cannot be fetched), 400 InvalidSessionId (the session id header is not 33-100 characters of
  [A-Za-z0-9_-]), 413 PayloadTooLarge (body over MAX_BODY_BYTES), 400 InvalidPayload (JSON nested too deeply
  to parse). Then, in the entrypoint: 400 InvalidPayload (also a prompt holding a lone surrogate), 413
  PromptTooLong, 409 SessionBusy (a turn is still running in this session; a turn whose
  stream never started stops counting after UNSTARTED_TURN_SECONDS).
  A body that is not JSON is refused by the SDK itself with 400 `{"error": "Invalid JSON", ...}`.
- Error event codes and their `retryable` flag: see `model_errors` (every Bedrock Runtime error, whether
  it came before or inside the stream); retries already made: see `model_retries`.

Sessions: one agent per (actor, `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`), kept in an LRU of
SESSION_CACHE_SIZE. A request without a session id gets a one-off agent that is not kept (no follow-up turn
can see it); the AgentCore Runtime always sends one, so only direct local calls take that path.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp, BedrockAgentCoreContext, RequestContext
from starlette.middleware import Middleware

from . import model_errors, telemetry
from .agent_factory import build_agent, default_model
from .auth import CALLER_STATE, Authenticator, AuthError, Caller
from .http_boundary import InvocationGuard, authenticate, error_response, loggable, verified_caller
from .payload import PayloadError, parse_payload
from .sessions import SessionCache
from .settings import Settings
from .stream_events import tool_result_event, usage_event
from .token_budget import Refusal, TokenBudget, turn_tokens
from .usage_metrics import emit_turn_usage, usage_delta

logger = logging.getLogger(__name__)

# A turn whose stream never started (the client left before the response began) frees its session after this.
UNSTARTED_TURN_SECONDS = 30.0

ModelFactory = Callable[[Settings], Any]
# (settings, session_id, actor_id) -> hook providers, e.g. the memory hooks of that actor and session
HooksFactory = Callable[[Settings, str, str], Sequence[Any]]
RetryFactory = Callable[[], Any]


@dataclass
class _Turn:
    """A turn handed to the SDK: it holds its session until its stream ends (or never starts)."""

    created: float
    started: bool = False

    def holds_session(self, now: float) -> bool:
        return self.started or now - self.created < UNSTARTED_TURN_SECONDS


def shared_default_model() -> ModelFactory:
    """A factory that builds the Bedrock model on first use, then shares it (it holds just a boto3 client).

    Thread-safe: the start-up warm-up (`warm_up`) and a first request may ask for it at the same time.
    """
    cell: list[Any] = []
    lock = threading.Lock()

    def factory(settings: Settings) -> Any:
        with lock:
            if not cell:
                cell.append(default_model(settings))
            return cell[0]

    return factory


def create_app(
    settings: Settings,
    *,
    model_factory: ModelFactory | None = None,
    tools: Sequence[Any] = (),
    hooks_factory: HooksFactory | None = None,
    retry_factory: RetryFactory | None = None,
    budget: TokenBudget | None = None,
) -> BedrockAgentCoreApp:
    """Wire the runtime app; tests inject a scripted model, other modules inject gateway tools and hooks.

    `model_factory(settings)` is called once per new agent (the default shares one BedrockModel). With a
    `budget`, each turn is admitted against its caller's token budget before the model is called, and
    charged the model's reported usage after it.
    """
    authenticator = Authenticator(settings)
    make_model = model_factory or shared_default_model()
    sessions: SessionCache[tuple[str, str], Any] = SessionCache(settings.session_cache_size)
    busy: dict[tuple[str, str], _Turn] = {}  # touched only on the SDK's single worker loop

    def new_agent(session_id: str, actor_id: str) -> Any:
        hooks = hooks_factory(settings, session_id, actor_id) if hooks_factory else ()
        return build_agent(
            settings,
            model=make_model(settings),
            session_id=session_id,
            actor_id=actor_id,
            tools=tools,
            hooks=hooks,
            retry_strategy=retry_factory() if retry_factory else None,
        )

    guard = Middleware(InvocationGuard, authenticator=authenticator, max_body_bytes=settings.max_body_bytes)
    app = telemetry.without_send_receive_spans(BedrockAgentCoreApp(middleware=[guard]))

    def warm_up() -> None:
        """What every first turn needs and no request has to build: the issuer's keys, the model's client."""
        authenticator.prefetch_keys()
        make_model(settings)

    app.state.warm_up = warm_up  # __main__ runs it beside the server's start (see its `warm_up`)

    @app.entrypoint
    async def invoke(payload: Any, context: RequestContext) -> Any:
        """Refuse bad calls with a JSON error; otherwise return the answer stream."""
        session_id = context.session_id
        try:
            # The guard verified the caller before the body was read; a direct call of the handler has not.
            caller = verified_caller(context) or await authenticate(authenticator, context.request_headers)
        except AuthError as error:
            logger.warning("refused call (%s) in session %s: %s", error.status, loggable(session_id), error)
            return error_response(error.status, error.code, str(error))
        try:
            invocation = parse_payload(payload, max_prompt_chars=settings.max_prompt_chars)
        except PayloadError as error:
            logger.info("bad payload (%s) in session %s: %s", error.status, session_id, error)
            return error_response(error.status, error.code, str(error))

        if session_id is None:
            one_off = f"one-off-{uuid.uuid4()}"  # unique, so memory hooks never merge unrelated one-off calls
            logger.info(
                "no session id: answering in one-off session %s for actor %s", one_off, caller.actor_id
            )
            agent = new_agent(one_off, caller.actor_id)
            return _answer(
                agent,
                invocation.prompt,
                None,
                caller,
                claim=lambda: True,
                release=lambda: None,
                budget=budget,
            )
        key = (caller.actor_id, session_id)
        running = busy.get(key)
        if running is not None and running.holds_session(time.monotonic()):
            message = "a turn is still running in this session; retry when it ends"
            return error_response(409, "SessionBusy", message)
        agent, created = sessions.get_or_create(key, lambda: new_agent(session_id, caller.actor_id))
        if created:
            logger.info("new session %s for actor %s (%d cached)", session_id, caller.actor_id, len(sessions))
        turn = busy[key] = _Turn(time.monotonic())

        def claim() -> bool:
            """Start the turn, unless it went stale unstarted and a newer turn took the session."""
            turn.started = busy.get(key) is turn
            return turn.started

        def release() -> None:
            if busy.get(key) is turn:
                del busy[key]

        return _answer(
            agent, invocation.prompt, session_id, caller, claim=claim, release=release, budget=budget
        )

    return app


async def _answer(
    agent: Any,
    prompt: str,
    session_id: str | None,
    caller: Caller,
    *,
    claim: Callable[[], bool],
    release: Callable[[], None],
    budget: TokenBudget | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Stream one turn; on failure emit one error event and roll the conversation back to before the turn.

    The SDK starts this generator only once the response begins, so a client that leaves earlier never runs
    it (nor its `finally`): such a turn stops holding its session after a grace period, and if it starts
    after a newer turn took over, `claim()` refuses it without touching the conversation.
    """
    if not claim():
        yield _error_event("SessionBusy", "this turn expired before it started; retry", True, session_id)
        return
    before = list(agent.messages)
    finished = False
    admission = None
    usage_before = dict(agent.event_loop_metrics.accumulated_usage)
    try:
        if budget is not None:
            decision = await asyncio.to_thread(budget.admit, caller.actor_id, caller.kind)
            if isinstance(decision, Refusal):
                logger.info("turn refused in session %s: %s", session_id, decision.code)
                yield _error_event(decision.code, decision.message, decision.retryable, session_id)
                finished = True  # nothing was changed
                return
            admission = decision
        stop_reason = None
        uses: dict[str, Any] = {}  # toolUseId -> the model's toolUse block, for its result's event
        async for event in agent.stream_async(prompt, invocation_state={CALLER_STATE: caller}):
            if event.get("data"):
                yield {"type": "text", "text": event["data"]}
            elif "message" in event:
                for block in event["message"].get("content", []):
                    if "toolUse" in block and event["message"].get("role") == "assistant":
                        uses[block["toolUse"].get("toolUseId")] = block["toolUse"]
                        yield {"type": "tool", "name": block["toolUse"].get("name")}
                    elif "toolResult" in block:
                        result = block["toolResult"]
                        yield tool_result_event(result, uses.get(result.get("toolUseId")))
            elif "result" in event:
                stop_reason = str(event["result"].stop_reason)
        finished = True
        yield usage_event(usage_delta(usage_before, agent.event_loop_metrics.accumulated_usage))
        yield {"type": "end", "stop_reason": stop_reason}
    except Exception as error:
        failure = model_errors.describe(error)
        request_id = BedrockAgentCoreContext.get_request_id()
        logger.error(
            "model call failed in session %s (request %s): %s: %s",
            session_id,
            request_id,
            type(error).__name__,
            error,
            exc_info=failure.code == "AgentError",  # unexpected: keep the trace for the operator
            extra={"session_id": session_id, "request_id": request_id, "error_code": failure.code},
        )
        yield _error_event(failure.code, failure.message, failure.retryable, session_id)
    finally:
        if not finished:
            # A half-finished turn (error or client gone) would leave a dangling user message that makes the
            # next model call invalid; the caller can simply ask again.
            agent.messages[:] = before
        try:
            counts = usage_delta(usage_before, agent.event_loop_metrics.accumulated_usage)
            if any(counts.values()):
                emit_turn_usage(counts, actor_id=caller.actor_id, kind=caller.kind, session_id=session_id)
            if budget is not None and admission is not None:
                # Failed and abandoned turns are charged too: the model did the work. Shielded, so a client
                # that leaves (cancellation) does not lose the charge.
                tokens = turn_tokens(agent.event_loop_metrics.accumulated_usage) - turn_tokens(usage_before)
                await asyncio.shield(asyncio.to_thread(budget.charge, admission, tokens))
        finally:
            release()


def _error_event(code: str, message: str, retryable: bool, session_id: str | None) -> dict[str, Any]:
    """The stream's last event when a turn fails: what happened, whether to retry, and ids to quote."""
    return {
        "type": "error",
        "error": code,
        "message": message,
        "retryable": retryable,
        "session_id": session_id,
        "request_id": BedrockAgentCoreContext.get_request_id(),
    }
