"""Test double for OpenAI's chat-completions endpoint, streaming as the real API does (server-sent events).

The agent's real client path runs against it: Strands' `OpenAIModel` → the `openai` SDK → httpx → here,
through `OPENAI_BASE_URL=<url>/v1`. Wire format of `POST /v1/chat/completions` with `"stream": true`:
`200 text/event-stream`, one `data: <chat.completion.chunk JSON>` event per delta (the first carries
`"role": "assistant"`), a last content chunk with `finish_reason: "stop"`, a usage chunk with empty `choices`
when `stream_options.include_usage` is set, then `data: [DONE]`.

Authentication is checked like OpenAI does: `Authorization: Bearer <api_key>`; any other key gets
`401 {"error": {"type": "invalid_request_error", "code": "invalid_api_key", ...}}` (which the SDK raises as
`openai.AuthenticationError`). Tests rotate the key by assigning `api_key`. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from local.http_server import JsonHandler, LocalServer, json_or_raw

COMPLETIONS_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Recorded:
    """One request: the bearer key it carried and its JSON body."""

    bearer: str
    body: dict[str, Any]


class OpenAIServer:
    """Answers each accepted call with the next of `answers` (the last one repeats), in `chunks` deltas."""

    def __init__(self, api_key: str, answers: list[str], chunks: int = 3) -> None:
        self.api_key = api_key
        self.answers = list(answers)
        self.chunks = chunks
        self.requests: list[Recorded] = []
        self._accepted = 0
        self._lock = threading.Lock()
        self._server = LocalServer(self._handler_class(), name="openai-double")

    @property
    def base_url(self) -> str:
        """The value for OPENAI_BASE_URL."""
        return f"{self._server.url}/v1"

    @property
    def refused(self) -> int:
        """Calls answered 401."""
        return sum(1 for r in self.requests if r.bearer != self.api_key)

    def start(self) -> OpenAIServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_answer(self) -> str:
        with self._lock:
            answer = self.answers[min(self._accepted, len(self.answers) - 1)]
            self._accepted += 1
            return answer

    def _handler_class(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = json_or_raw(self.read_body())
                auth = self.lowered_headers().get("authorization", "")
                bearer = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
                with double._lock:
                    double.requests.append(Recorded(bearer, body))
                if self.path != COMPLETIONS_PATH:
                    self.send_json(404, {"error": {"message": "Unknown path", "type": "not_found"}})
                    return
                if bearer != double.api_key:
                    self.send_json(401, _invalid_key())
                    return
                if body.get("stream") is not True:
                    self.send_json(400, {"error": {"message": "this double only streams", "type": "x"}})
                    return
                self._stream(body, double._next_answer())

            def _stream(self, body: dict[str, Any], answer: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in completion_chunks(body.get("model", ""), answer, double.chunks, body):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


def completion_chunks(model: str, answer: str, chunks: int, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` objects OpenAI streams for a plain text answer."""
    created = int(time.time())
    size = max(1, -(-len(answer) // chunks))
    pieces = [answer[i : i + size] for i in range(0, len(answer), size)] or [""]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-double",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    out = [chunk({"role": "assistant", "content": pieces[0]})]
    out += [chunk({"content": piece}) for piece in pieces[1:]]
    out.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append(
            {
                "id": "chatcmpl-double",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
            }
        )
    return out


def _invalid_key() -> dict[str, Any]:
    """OpenAI's 401 body (the real one quotes a masked key; the double quotes none)."""
    return {
        "error": {
            "message": "Incorrect API key provided. You can find your API key at https://platform.openai.com.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
