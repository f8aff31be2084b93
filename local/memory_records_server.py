"""Local AgentCore Memory retrieval (emulator + test double): an HTTP server speaking RetrieveMemoryRecords.

moto (5.2.5) emulates the Memory data plane's events (CreateEvent/ListEvents/...) but not
RetrieveMemoryRecords, and one `bedrock-agentcore` client talks to one endpoint. So this server sits at that
endpoint (`AWS_ENDPOINT_URL_BEDROCK_AGENTCORE=server.url`):

* `POST /memories/{memoryId}/retrieve` is answered here, in the REST-JSON shape of botocore's service model
  (request: `namespace` | `namespacePath`, `searchCriteria{searchQuery, topK, memoryStrategyId}`,
  `maxResults`; response: `memoryRecordSummaries[{memoryRecordId, content{text}, memoryStrategyId,
  namespaces, createdAt, score}]`), from records seeded per namespace;
* every other request is forwarded verbatim to `upstream` with `requests`, e.g. to
  `https://bedrock-agentcore.us-east-1.amazonaws.com`. Inside `moto.mock_aws()` that call never leaves the
  process: moto intercepts `requests` to AWS hosts. Without an upstream the server answers 404.

A forwarded request carrying a `clientToken` it has seen before gets the first request's answer again and
is not forwarded: AgentCore treats the token as an idempotency key ("if this token matches a previous
request, AgentCore ignores the request"), moto does not, and botocore resends the same token when it retries
a CreateEvent whose answer timed out.

Every request (operation, path, JSON body) is recorded in `requests`. `delay_seconds` and `error_status`
simulate a slow or failing service for the operations listed in `affects` ("retrieve", "forward").
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from local.http_server import JsonHandler, LocalServer, json_or_raw

_RETRIEVE = re.compile(r"^/memories/(?P<memory_id>[^/]+)/retrieve$")
_HOP_BY_HOP = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}


@dataclass
class Record:
    """A long-term memory record as the service stores it."""

    namespace: str
    text: str
    score: float = 0.5
    strategy_id: str = "semantic_strategy-abcdefghij"
    record_id: str = field(default_factory=lambda: f"mem-{uuid.uuid4()}")
    created_at: float = field(default_factory=time.time)
    reported_namespace: str | None = None  # lets a test make the server misfile a record

    def summary(self) -> dict[str, Any]:
        """The `MemoryRecordSummary` wire shape."""
        return {
            "memoryRecordId": self.record_id,
            "content": {"text": self.text},
            "memoryStrategyId": self.strategy_id,
            "namespaces": [self.reported_namespace or self.namespace],
            "createdAt": self.created_at,
            "score": self.score,
        }


@dataclass
class _Answer:
    """The answer to the first request with a given clientToken; later ones wait for it and get it too."""

    ready: threading.Event = field(default_factory=threading.Event)
    status: int = 500
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeenRequest:
    """One request the server received."""

    operation: str  # "retrieve" or "forward"
    method: str
    path: str
    body: dict[str, Any]


class MemoryRecordsServer:
    """Threaded HTTP server on 127.0.0.1 (free port); use as a context manager or call start()/stop()."""

    def __init__(self, *, upstream: str | None = None) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.records: list[Record] = []
        self.requests: list[SeenRequest] = []
        self.delay_seconds = 0.0
        self.error_status: int | None = None
        self.affects: frozenset[str] = frozenset({"retrieve", "forward"})
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._answers: dict[str, _Answer] = {}  # clientToken -> the first request's answer
        self._server = LocalServer(self._handler_class(), name="memory-records-server")

    @property
    def url(self) -> str:
        return self._server.url

    def add_record(self, namespace: str, text: str, **kwargs: Any) -> Record:
        """Seed one record under an exact namespace."""
        record = Record(namespace=namespace, text=text, **kwargs)
        with self._lock:
            self.records.append(record)
        return record

    def retrieve_requests(self) -> list[SeenRequest]:
        return [seen for seen in self.requests if seen.operation == "retrieve"]

    def start(self) -> MemoryRecordsServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a simulated delay
        self._server.stop()

    def __enter__(self) -> MemoryRecordsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ---------------------------------------------------------------------------------

    def _answer_for(self, token: Any) -> tuple[_Answer, bool]:
        """The answer slot for `token` and whether this request is the first with it (so it forwards)."""
        if not isinstance(token, str):
            return _Answer(), True
        with self._lock:
            answer = self._answers.get(token)
            if answer is not None:
                return answer, False
            answer = self._answers[token] = _Answer()
            return answer, True

    def _retrieve(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Validate like the service, then return the namespace's records, best score first, up to topK."""
        criteria = body.get("searchCriteria")
        if not isinstance(criteria, dict) or not isinstance(criteria.get("searchQuery"), str):
            return 400, {"message": "searchCriteria.searchQuery is required"}
        if not 1 <= len(criteria["searchQuery"]) <= 10000:
            return 400, {"message": "searchQuery length must be between 1 and 10000"}
        top_k = criteria.get("topK", 10)
        if not isinstance(top_k, int) or not 1 <= top_k <= 100:
            return 400, {"message": "topK must be between 1 and 100"}
        namespace, prefix = body.get("namespace"), body.get("namespacePath")
        if not namespace and not prefix:
            return 400, {"message": "Either namespace or namespacePath is required"}
        strategy = criteria.get("memoryStrategyId")
        with self._lock:
            hits = [
                record
                for record in self.records
                if (record.namespace == namespace if namespace else record.namespace.startswith(prefix))
                and (strategy is None or record.strategy_id == strategy)
            ]
        hits.sort(key=lambda record: record.score, reverse=True)
        limit = min(top_k, body.get("maxResults", 20))
        return 200, {"memoryRecordSummaries": [record.summary() for record in hits[:limit]]}

    def _handler_class(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def _error(self, status: int, error_type: str, message: str) -> None:
                self.send_json(status, {"message": message}, {"x-amzn-ErrorType": error_type})

            def _handle(self) -> None:
                raw = self.read_body()
                body = json_or_raw(raw)
                path = self.path.split("?", 1)[0]
                operation = "retrieve" if _RETRIEVE.match(path) and self.command == "POST" else "forward"
                with double._lock:
                    double.requests.append(SeenRequest(operation, self.command, path, body))
                if operation in double.affects:
                    if double.delay_seconds and double._stopping.wait(double.delay_seconds):
                        self.close_connection = True  # stopping: drop the connection, answer nothing
                        return
                    if double.error_status is not None:
                        self._error(double.error_status, "ServiceException", "simulated failure")
                        return
                if operation == "retrieve":
                    status, payload = double._retrieve(body)
                    if status != 200:
                        self._error(status, "ValidationException", payload["message"])
                        return
                    self.send_json(200, payload)
                    return
                if double.upstream is None:
                    self._error(404, "UnknownOperationException", f"{self.command} {path} is not implemented")
                    return
                token = body.get("clientToken") if isinstance(body, dict) else None
                answer, first = double._answer_for(token)
                if first:
                    try:
                        upstream = requests.request(
                            self.command,
                            double.upstream + self.path,
                            data=raw,
                            headers={k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP},
                            timeout=10,
                        )
                        answer.status, answer.content = upstream.status_code, upstream.content
                        answer.headers = {
                            k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
                        }
                    finally:
                        answer.ready.set()
                else:
                    answer.ready.wait(10)
                self.send_bytes(answer.status, answer.content, answer.headers)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler
