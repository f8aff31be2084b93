"""The invocation payload contract: `{"prompt": "<text>"}`; everything else is ignored.

Validation lives here so the entrypoint can refuse bad input with a clear 4xx before any model is called.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# Fields a client might send hoping to choose who it is; identity comes only from the verified token.
IDENTITY_FIELDS = ("actor_id", "actorId", "user_id", "userId", "sub")


class PayloadError(Exception):
    """The payload is unusable; `status` and `code` become the HTTP error response."""

    def __init__(self, message: str, *, status: int = 400, code: str = "InvalidPayload") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Invocation:
    """A validated request: the user's prompt."""

    prompt: str


def parse_payload(payload: Any, *, max_prompt_chars: int) -> Invocation:
    """Validate the decoded JSON body; raise `PayloadError` with a message a caller can act on."""
    if not isinstance(payload, dict):
        kind = _json_type(payload)
        raise PayloadError(f'the body must be a JSON object like {{"prompt": "..."}}, not {kind}')
    ignored = [name for name in IDENTITY_FIELDS if name in payload]
    if ignored:
        logger.warning("ignoring payload field(s) %s: the actor comes from the verified token", ignored)
    if "prompt" not in payload:
        raise PayloadError('the body has no "prompt" field')
    prompt = payload["prompt"]
    if not isinstance(prompt, str):
        raise PayloadError(f'"prompt" must be a string, not {_json_type(prompt)}')
    if not _is_unicode_text(prompt):
        # JSON may escape a lone surrogate ("\\ud800"); no UTF-8 text can carry it, so the model call, the
        # answer stream and the MCP session would each fail on it later.
        raise PayloadError('"prompt" holds a lone surrogate (\\ud800-\\udfff), which is not text')
    if not prompt.strip():
        raise PayloadError('"prompt" is empty')
    if len(prompt) > max_prompt_chars:
        # 413: the request is well-formed but larger than this server accepts; the fix is to shorten it.
        raise PayloadError(
            f'"prompt" has {len(prompt)} characters; the limit is {max_prompt_chars}',
            status=413,
            code="PromptTooLong",
        )
    return Invocation(prompt=prompt)


def _is_unicode_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: Any) -> str:
    """Name a decoded JSON value's type the way a client would think of it."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
