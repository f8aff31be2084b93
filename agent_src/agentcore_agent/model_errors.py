"""Turns any failure of a model call into a short, stable error a caller can act on.

Callers get a code and one sentence, never a stack trace or raw service message; the full exception goes to
the log, tagged with the session id, for the operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError
from strands.types.exceptions import (
    ContextWindowOverflowException,
    MaxTokensReachedException,
    ModelThrottledException,
)

_THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceQuotaExceededException",
        "ServiceUnavailableException",
    }
)


@dataclass(frozen=True)
class ModelFailure:
    """What the caller is told: a stable `code` and a `message` that says what to do."""

    code: str
    message: str
    retryable: bool


def describe(error: BaseException) -> ModelFailure:
    """Classify an exception raised while the agent talked to the model (or ran its tools)."""
    code = _aws_code(error)
    if isinstance(error, ModelThrottledException) or code in _THROTTLING_CODES:
        return ModelFailure("ModelThrottled", "The model is busy right now; retry in a few seconds.", True)
    if code == "AccessDeniedException":
        return ModelFailure(
            "ModelAccessDenied",
            "The agent may not call its model; an operator must check model access and the runtime role.",
            False,
        )
    if code in {"ValidationException", "ResourceNotFoundException"}:
        return ModelFailure(
            "ModelRequestRejected",
            "The model rejected the request; an operator must check the model id.",
            False,
        )
    if isinstance(error, BotocoreConnectionError | HTTPClientError):
        return ModelFailure("ModelUnreachable", "The model endpoint cannot be reached; retry shortly.", True)
    if isinstance(error, ContextWindowOverflowException):
        return ModelFailure(
            "ContextWindowOverflow", "The conversation is too long; start a new session.", False
        )
    if isinstance(error, MaxTokensReachedException):
        return ModelFailure("MaxTokensReached", "The answer hit the output limit; ask for less.", False)
    return ModelFailure("AgentError", "The agent failed to answer; the error is logged.", True)


def _aws_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (duck-typed so botocore need not be imported)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None
