"""Turns any failure of a model call into a short, stable error a caller can act on.

Callers get a code and one sentence, never a stack trace or raw service message; the full exception goes to
the log, tagged with the session id, for the operator.

Bedrock Runtime names the same error twice: an HTTP error before the stream carries the shape name
(`ThrottlingException`), an `exception` message inside a started ConverseStream carries the stream member
name (`throttlingException`; botocore raises `EventStreamError` with that code). Both forms are matched. The
table covers every error shape of `botocore/data/bedrock-runtime/*/service-2.json` (a test keeps it so).
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import EventStreamError, HTTPClientError
from strands.types.exceptions import (
    ContextWindowOverflowException,
    MaxTokensReachedException,
    ModelThrottledException,
)


@dataclass(frozen=True)
class ModelFailure:
    """What the caller is told: a stable `code` and a `message` that says what to do."""

    code: str
    message: str
    retryable: bool


THROTTLED = ModelFailure("ModelThrottled", "The model is busy right now; retry in a few seconds.", True)
UNREACHABLE = ModelFailure("ModelUnreachable", "The model endpoint cannot be reached; retry shortly.", True)
_REJECTED = ModelFailure(
    "ModelRequestRejected",
    "The model rejected the request; an operator must check the model id and the request in the logs.",
    False,
)

# Bedrock Runtime error shape (PascalCase) -> what the caller is told.
_BY_SHAPE: dict[str, ModelFailure] = {
    "ThrottlingException": THROTTLED,
    "ServiceQuotaExceededException": ModelFailure(
        "ModelQuotaExceeded",
        "The model's usage quota is used up for now; retry later (an operator can raise the quota).",
        True,
    ),
    "ModelNotReadyException": ModelFailure(
        "ModelNotReady", "The model is not ready to serve yet; retry in a few seconds.", True
    ),
    "ServiceUnavailableException": ModelFailure(
        "ModelUnavailable", "The model service is unavailable right now; retry shortly.", True
    ),
    "InternalServerException": ModelFailure(
        "ModelServiceError", "The model service had an internal error; retry.", True
    ),
    "ModelStreamErrorException": ModelFailure(
        "ModelStreamError", "The model's answer broke off while streaming; retry.", True
    ),
    "ModelTimeoutException": ModelFailure(
        "ModelTimeout", "The model took too long to answer; retry, or ask a shorter question.", True
    ),
    "ModelErrorException": ModelFailure(
        "ModelError", "The model failed while processing the request; retry, or rephrase it.", True
    ),
    "ConflictException": ModelFailure(
        "ModelConflict", "The model service reported a conflicting operation; retry.", True
    ),
    "AccessDeniedException": ModelFailure(
        "ModelAccessDenied",
        "The agent may not call its model; an operator must check model access and the runtime role.",
        False,
    ),
    "ValidationException": _REJECTED,
    "ResourceNotFoundException": ModelFailure(
        "ModelNotFound",
        "The configured model does not exist in this region; an operator must check the model id.",
        False,
    ),
}

# Failures that are worth an automatic retry right away (capacity or a transient fault before any answer).
_TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "ModelNotReadyException",
        "ServiceUnavailableException",
        "InternalServerException",
    }
)

GENERIC = ModelFailure("AgentError", "The agent failed to answer; the error is logged.", True)


def describe(error: BaseException) -> ModelFailure:
    """Classify an exception raised while the agent talked to the model (or ran its tools)."""
    # Strands' own conclusions first: it raises them `from` the Bedrock error (e.g. a ValidationException).
    if isinstance(error, ContextWindowOverflowException):
        return ModelFailure(
            "ContextWindowOverflow", "The conversation is too long; start a new session.", False
        )
    if isinstance(error, MaxTokensReachedException):
        return ModelFailure("MaxTokensReached", "The answer hit the output limit; ask for less.", False)
    shape = aws_shape(error)
    if shape in _BY_SHAPE:
        return _BY_SHAPE[shape]
    if isinstance(error, ModelThrottledException):
        return THROTTLED
    if isinstance(error, BotocoreConnectionError | HTTPClientError):
        return UNREACHABLE
    return GENERIC


def worth_retrying_now(error: BaseException) -> bool:
    """Whether an automatic retry may help and cannot repeat text the caller already has.

    Only failures before the stream started qualify: once ConverseStream has begun, text may already be on
    its way to the caller, and a retry would send it twice (such an error is reported as retryable instead).
    """
    if any(isinstance(cause, EventStreamError) for cause in _chain(error)):
        return False
    shape = aws_shape(error)
    if shape is not None:
        return shape in _TRANSIENT
    return any(isinstance(cause, BotocoreConnectionError) for cause in _chain(error)) or isinstance(
        error, ModelThrottledException
    )


def aws_shape(error: BaseException) -> str | None:
    """The PascalCase AWS error code behind `error` (or its causes), whichever form the service used."""
    for cause in _chain(error):
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if isinstance(code, str) and code:
                return code[0].upper() + code[1:]
    return None


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and its explicit causes (Strands re-raises botocore errors `from` the original)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__
    return chain
