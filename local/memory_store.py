"""Local AgentCore Memory: the data-plane operations the agent calls, persisted in SQLite.

Operations (REST-JSON shapes of botocore's `bedrock-agentcore` model):
- `CreateEvent` `POST /memories/{memoryId}/events` → 201 `{"event": {...}}`;
- `ListEvents` `POST /memories/{memoryId}/actor/{actorId}/sessions/{sessionId}` → `{"events": [...]}`,
  newest first like the service, `maxResults`/`nextToken` paging;
- `RetrieveMemoryRecords` `POST /memories/{memoryId}/retrieve` → `{"memoryRecordSummaries": [...]}`.

Long-term extraction is an EMULATION, not the service's LLM-driven strategies: every USER message written
with CreateEvent is filed at once, verbatim, under the namespaces of the strategies (names and namespace
templates from the stage's MEMORY_NAMESPACES): `facts` gets every user message, `preferences` only those
that state one ("I like/prefer/love/hate/want...", "my favourite..."), `summaries` keeps one record per
session listing what the user said. Retrieval ranks a namespace's records lexically (BM25 over words) and
returns those sharing a word with the query, best first: the deployed memory ranks by embeddings, extracts
asynchronously (records appear after a delay) and rewrites what it extracts. Other strategy names get no
records.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rank_bm25 import BM25Okapi

_EVENTS = re.compile(r"^/memories/(?P<memory>[^/]+)/events$")
_LIST = re.compile(r"^/memories/(?P<memory>[^/]+)/actor/(?P<actor>[^/]+)/sessions/(?P<session>[^/]+)$")
_RETRIEVE = re.compile(r"^/memories/(?P<memory>[^/]+)/retrieve$")
_PREFERENCE = re.compile(r"\b(i (like|love|prefer|hate|want|always|never|usually)|my favou?rite)\b", re.I)
_WORD = re.compile(r"[a-z0-9]+")
SUMMARY_CHARS = 2000
Response = tuple[int, dict[str, Any]]


def _terms(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class MemoryStore:
    """One memory's events and emulated long-term records in an SQLite file (thread-safe)."""

    def __init__(self, path: Path, *, memory_id: str, namespaces: Mapping[str, str]) -> None:
        self.path = path
        self.memory_id = memory_id
        self.namespaces = dict(namespaces)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL;
            CREATE TABLE IF NOT EXISTS events (
                event_id TEXT PRIMARY KEY, actor_id TEXT, session_id TEXT, ts REAL, payload TEXT);
            CREATE INDEX IF NOT EXISTS events_by_session ON events (actor_id, session_id, ts);
            CREATE TABLE IF NOT EXISTS records (
                record_id TEXT PRIMARY KEY, namespace TEXT, strategy TEXT, text TEXT, created_at REAL);
            CREATE INDEX IF NOT EXISTS records_by_namespace ON records (namespace);
            """
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def respond(self, method: str, path: str, body: dict[str, Any]) -> Response | None:
        """The answer to one request, or None when the path is no memory operation."""
        for pattern, operation in ((_EVENTS, self._create), (_LIST, self._list), (_RETRIEVE, self._retrieve)):
            match = pattern.match(path)
            if match and method == "POST":
                if match["memory"] != self.memory_id:
                    return _error(404, "ResourceNotFoundException", f"memory {match['memory']} not found")
                with self._lock:
                    return operation(body, **{k: v for k, v in match.groupdict().items() if k != "memory"})
        return None

    # -- operations ----------------------------------------------------------------------------------------

    def _create(self, body: dict[str, Any]) -> Response:
        missing = [name for name in ("actorId", "sessionId", "eventTimestamp", "payload") if name not in body]
        if missing:
            return _error(400, "ValidationException", f"missing {missing}")
        event_id = f"{int(time.time() * 1000):013d}#{uuid.uuid4().hex[:12]}"
        timestamp = float(body["eventTimestamp"])
        payload = body["payload"]
        self._db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            (event_id, body["actorId"], body["sessionId"], timestamp, json.dumps(payload)),
        )
        for item in payload:
            conversational = item.get("conversational") or {}
            text = (conversational.get("content") or {}).get("text") or ""
            if str(conversational.get("role", "")).upper() == "USER" and text.strip():
                self._extract(text.strip(), actor=body["actorId"], session=body["sessionId"])
        event = _event(self.memory_id, event_id, body["actorId"], body["sessionId"], timestamp, payload)
        return 201, {"event": event}

    def _list(self, body: dict[str, Any], *, actor: str, session: str) -> Response:
        limit = int(body.get("maxResults") or 20)
        offset = int(body.get("nextToken") or 0)
        rows = self._db.execute(
            "SELECT event_id, ts, payload FROM events WHERE actor_id = ? AND session_id = ? "
            "ORDER BY ts DESC, event_id DESC LIMIT ? OFFSET ?",
            (actor, session, limit + 1, offset),
        ).fetchall()
        include = body.get("includePayloads", True)
        events = [
            _event(self.memory_id, row[0], actor, session, row[1], json.loads(row[2]) if include else None)
            for row in rows[:limit]
        ]
        page: dict[str, Any] = {"events": events}
        if len(rows) > limit:
            page["nextToken"] = str(offset + limit)
        return 200, page

    def _retrieve(self, body: dict[str, Any]) -> Response:
        criteria = body.get("searchCriteria")
        if not isinstance(criteria, dict) or not str(criteria.get("searchQuery") or "").strip():
            return _error(400, "ValidationException", "searchCriteria.searchQuery is required")
        namespace, prefix = body.get("namespace"), body.get("namespacePath")
        if not namespace and not prefix:
            return _error(400, "ValidationException", "Either namespace or namespacePath is required")
        if namespace:
            rows = self._db.execute("SELECT * FROM records WHERE namespace = ?", (namespace,)).fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM records WHERE substr(namespace, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
        limit = min(int(criteria.get("topK") or 10), int(body.get("maxResults") or 100))
        return 200, {"memoryRecordSummaries": _ranked(rows, str(criteria["searchQuery"]), limit)}

    # -- the extraction emulation --------------------------------------------------------------------------

    def _extract(self, text: str, *, actor: str, session: str) -> None:
        """File a user message under each strategy's namespace (see the module docstring)."""
        for strategy, template in self.namespaces.items():
            namespace = template.replace("{actorId}", actor).replace("{sessionId}", session)
            namespace = namespace.replace("{memoryStrategyId}", f"{strategy}-local")
            if strategy == "summaries":
                self._append_summary(namespace, strategy, text)
            elif strategy == "facts" or (strategy == "preferences" and _PREFERENCE.search(text)):
                self._insert(namespace, strategy, text)

    def _insert(self, namespace: str, strategy: str, text: str, record_id: str | None = None) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
            (record_id or f"mem-{uuid.uuid4()}", namespace, strategy, text, time.time()),
        )

    def _append_summary(self, namespace: str, strategy: str, text: str) -> None:
        record_id = f"mem-summary-{uuid.uuid5(uuid.NAMESPACE_URL, namespace)}"
        row = self._db.execute("SELECT text FROM records WHERE record_id = ?", (record_id,)).fetchone()
        summary = f"{row[0]} | {text}" if row else f"In this session the user said: {text}"
        self._insert(namespace, strategy, summary[-SUMMARY_CHARS:], record_id)


def _ranked(rows: list[tuple[Any, ...]], query: str, limit: int) -> list[dict[str, Any]]:
    """Records sharing a word with the query, best BM25 score first, as MemoryRecordSummary shapes."""
    terms = _terms(query)
    if not rows or not terms:
        return []
    scores = BM25Okapi([_terms(row[3]) or [""] for row in rows]).get_scores(terms)
    overlap = [bool(set(terms) & set(_terms(row[3]))) for row in rows]
    ranked = sorted(
        (entry for entry in zip(scores, overlap, rows, strict=True) if entry[1]),
        key=lambda entry: (-entry[0], -entry[2][4]),
    )
    top = max((entry[0] for entry in ranked), default=0.0) or 1.0
    return [
        {
            "memoryRecordId": row[0],
            "content": {"text": row[3]},
            "memoryStrategyId": f"{row[2]}-local",
            "namespaces": [row[1]],
            "createdAt": row[4],
            "score": round(max(score, 0.0) / top, 4),
        }
        for score, _, row in ranked[:limit]
    ]


def _event(
    memory_id: str, event_id: str, actor: str, session: str, timestamp: float, payload: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "memoryId": memory_id,
        "actorId": actor,
        "sessionId": session,
        "eventId": event_id,
        "eventTimestamp": timestamp,
    }
    if payload is not None:
        event["payload"] = payload
    return event


def _error(status: int, code: str, message: str) -> Response:
    return status, {"__type": code, "message": message}
