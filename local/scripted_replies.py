"""The scripted model's rules (`MODEL=scripted`): deterministic replies to a Converse request, no LLM.

It lets the whole local stage run offline and makes its behaviour testable. Given the request the agent sends
Bedrock (messages, offered tools), it answers in one of five ways:

1. the last message carries tool results → a text answer quoting them (`<tool> returned: {...}`);
2. the prompt holds an http(s) URL and `browse_web` is offered → `browse_web` opening that URL;
3. the prompt names ids that fill every required argument of an offered tool (an argument's description
   gives its shape as `e.g. "ORD-1001"`, so `ORD-1002` in the prompt fills `order_id`), or holds every word
   of the name of a tool that requires nothing ("list my orders": `list_orders`) → a call of the tool whose
   name shares most words with the prompt;
4. the prompt asks to run code (or to browse, without `browse_web` offered) and the system prompt carries a
   `Local stage:` note (tools that are off locally) → what the note says is off, without its instruction;
5. otherwise → a text answer that says it is scripted, how many earlier user messages the conversation has
   (so a restored conversation is visible) and what the first of them was.

It never calls a tool whose required arguments it cannot fill from the prompt (e.g. `cancel_order` needs a
reason), so it never writes data on its own (the tools that require nothing only read).
"""

from __future__ import annotations

import json
import re
from typing import Any

from local.scripted_turns import Text, ToolCall

MAX_QUOTE_CHARS = 1500
_EXAMPLE = re.compile(r'e\.g\. "([A-Z]+-)[A-Za-z0-9]+"')
_WORD = re.compile(r"[a-z0-9]+")
_CODE_REQUEST = re.compile(r"\b(run|execute|python|code)\b", re.IGNORECASE)
_BROWSE_REQUEST = re.compile(r"\b(browse|browser|website|web page)\b", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s\"'<>]+[^\s\"'<>.,;:!?)]")
BROWSE_TOOL = "browse_web"
LOCAL_NOTE_PREFIX = "Local stage:"
LOCAL_NOTE_INSTRUCTION = "If asked for it, say it is unavailable in the local stage."


def local_note(off: list[str]) -> str:
    """The system prompt's note on the tools that are off in the local stage (`local.stage` adds it)."""
    return f"{LOCAL_NOTE_PREFIX} {'; '.join(off)}. {LOCAL_NOTE_INSTRUCTION}"


def reply_to(request: dict[str, Any]) -> Text | ToolCall:
    """The scripted answer to one Converse request body."""
    messages = request.get("messages") or []
    last = messages[-1] if messages else {"role": "user", "content": []}
    results = [block["toolResult"] for block in last.get("content", []) if "toolResult" in block]
    if results:
        return Text(_quote_results(messages, results))
    prompt = _text(last)
    tools = [t["toolSpec"] for t in (request.get("toolConfig") or {}).get("tools", []) if "toolSpec" in t]
    offered = {spec["name"] for spec in tools}
    url = _URL.search(prompt)
    if url and BROWSE_TOOL in offered:
        arguments = {"action": "open", "url": url.group(0)}
        return ToolCall(BROWSE_TOOL, arguments, tool_use_id=f"tooluse-scripted-{len(messages)}")
    call = _tool_call(prompt, tools, turn=len(messages))
    if call is not None:
        return call
    off_locally = _off_locally(request)
    off_request = _CODE_REQUEST.search(prompt) or (
        _BROWSE_REQUEST.search(prompt) and BROWSE_TOOL not in offered
    )
    if off_locally and off_request:
        return Text(f"(scripted model, no LLM) That is unavailable in the local stage: {off_locally}.")
    earlier = [_text(m) for m in messages[:-1] if m.get("role") == "user" and _text(m)]
    first = f' The first was: "{earlier[0][:200]}".' if earlier else ""
    return Text(
        f'(scripted model, no LLM) You said: "{prompt[:500]}". This conversation has {len(earlier)} '
        f"earlier user message(s).{first} Ask about an order (e.g. ORD-1001) or a product (e.g. SKU-1001) "
        "and I will look it up with my tools."
    )


def _off_locally(request: dict[str, Any]) -> str | None:
    """What the system prompt's local note says is off (its instruction to the model left out), if any."""
    system = " ".join(
        block.get("text", "") for block in request.get("system") or [] if isinstance(block, dict)
    )
    start = system.find(LOCAL_NOTE_PREFIX)
    if start < 0:
        return None
    note = system[start + len(LOCAL_NOTE_PREFIX) :].split("\n\n", 1)[0]
    return note.replace(LOCAL_NOTE_INSTRUCTION, "").strip().rstrip(".") or None


def _text(message: dict[str, Any]) -> str:
    return " ".join(block["text"] for block in message.get("content", []) if "text" in block).strip()


def _quote_results(messages: list[dict[str, Any]], results: list[dict[str, Any]]) -> str:
    """`<tool> returned: <result>` for each result, naming the tool from the matching toolUse."""
    names = {
        block["toolUse"]["toolUseId"]: block["toolUse"]["name"]
        for message in messages
        for block in message.get("content", [])
        if "toolUse" in block
    }
    parts = []
    for result in results:
        content = " ".join(
            block["text"] if "text" in block else json.dumps(block.get("json"), separators=(",", ":"))
            for block in result.get("content", [])
        )
        name = names.get(result.get("toolUseId"), "the tool")
        parts.append(f"{name} returned: {content[:MAX_QUOTE_CHARS]}")
    return "(scripted model, no LLM) " + "\n".join(parts)


def _tool_call(prompt: str, tools: list[dict[str, Any]], *, turn: int) -> ToolCall | None:
    """The best offered tool whose every required argument is an id found in the prompt, or that requires
    nothing (a gateway tool: it only reads) and has every word of its name in the prompt."""
    words = _stems(prompt)
    best: tuple[int, str, dict[str, Any]] | None = None
    for spec in tools:
        schema = (spec.get("inputSchema") or {}).get("json") or {}
        required = schema.get("required") or []
        target, _, function = spec["name"].rpartition("___")  # gateway tools only (not browse_web)
        if not required and not (target and _stems(function) <= words):
            continue
        arguments = {}
        for name in required:
            value = _id_for(schema.get("properties", {}).get(name, {}), prompt)
            if value is None:
                break
            arguments[name] = value
        else:
            overlap = len(words & _stems(spec["name"]))
            if best is None or overlap > best[0]:
                best = (overlap, spec["name"], arguments)
    if best is None:
        return None
    return ToolCall(best[1], best[2], tool_use_id=f"tooluse-scripted-{turn}")


def _stems(text: str) -> set[str]:
    """Lower-case words without a plural s: "orders", "list_orders" and "Order" share "order"."""
    return {word.removesuffix("s") for word in _WORD.findall(text.lower().replace("_", " "))}


def _id_for(prop: dict[str, Any], prompt: str) -> str | None:
    """The first token of the prompt shaped like the argument's example id (e.g. `ORD-` + word chars)."""
    if prop.get("type", "string") != "string":
        return None
    example = _EXAMPLE.search(str(prop.get("description", "")))
    if example is None:
        return None
    found = re.search(rf"\b{re.escape(example.group(1))}[A-Za-z0-9]+\b", prompt, flags=re.IGNORECASE)
    return found.group(0).upper() if found else None
