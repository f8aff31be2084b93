"""Reading Strands/Converse messages: shared by the hooks that search with the user's words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text blocks of the newest user message that has any (tool results carry none), joined."""
    for message in reversed(messages):
        if message.get("role") == "user":
            texts = [
                block["text"] for block in message.get("content", []) if isinstance(block.get("text"), str)
            ]
            if texts:
                return "\n".join(texts).strip()
    return ""
