"""Local AgentCore Memory: the data-plane operations the agent calls, persisted in SQLite.

Operations (REST-JSON shapes of botocore's `bedrock-agentcore` model):
- `CreateEvent` `POST /memories/{memoryId}/events` → 201 `{"event": {...}}`;
- `ListEvents` `POST /memories/{memoryId}/actor/{actorId}/sessions/{sessionId}` → `{"events": [...]}`,
  newest first like the service, `maxResults`/`nextToken` paging;
- `RetrieveMemoryRecords` `POST /memories/{memoryId}/retrieve` → `{"memoryRecordSummaries": [...]}`.

CreateEvent's `clientToken` is an idempotency key as in the service: a request repeating a token gets the
first request's event and stores nothing (botocore resends the token when it retries a timed-out call).

Long-term extraction is an EMULATION, not the service's LLM-driven strategies: when the ASSISTANT's answer
of a turn is written with CreateEvent, the USER messages of that session written since are filed verbatim
under the namespaces of the strategies (names and namespace templates from the stage's MEMORY_NAMESPACES),
so a turn never retrieves its own prompt (the service, extracting later, does not either). `facts` gets
every user message, `preferences` only those that state one ("I like/prefer/love/hate/want...", "my
favourite..."), `summaries` keeps one record per session listing what the user said. A fact or preference
the namespace already holds (the same words, ignoring case and spacing) is not filed again, as the service
consolidates what it extracts: a question asked every day stays one record, not one per day (which would
also fill every top-k with copies and slow every retrieval). Retrieval ranks a
namespace's records lexically (BM25 over words) and returns those sharing a word with the query, best first:
the deployed memory ranks by embeddings, extracts asynchronously (records appear after a delay) and rewrites
what it extracts. Other strategy names get no records. `add_record` files a record directly (as the
service's extraction would have); one given a `score` is returned for every query of its namespace at that
score, which is how tests stand in for the service's semantic ranking.
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
_OPERATIONS = {"CreateEvent": _EVENTS, "ListEvents": _LIST, "RetrieveMemoryRecords": _RETRIEVE}
_ADDED_COLUMNS = (("score", "REAL"), ("reported_namespace", "TEXT"))  # records of older state files lack them
_RECORD = "record_id, namespace, strategy, text, created_at, score, reported_namespace"
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
            CREATE TABLE IF NOT EXISTS client_tokens (client_token TEXT PRIMARY KEY, event_id TEXT);
            CREATE TABLE IF NOT EXISTS unextracted (actor_id TEXT, session_id TEXT, ts REAL, text TEXT);
            """
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(records)")}
        for column, kind in _ADDED_COLUMNS:
            if column not in columns:
                self._db.execute(f"ALTER TABLE records ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def operation(method: str, path: str) -> str | None:
        """The name of the memory operation at `method path`, or None."""
        if method == "POST":
            return next((name for name, pattern in _OPERATIONS.items() if pattern.match(path)), None)
        return None

    def respond(self, method: str, path: str, body: dict[str, Any]) -> Response | None:
        """The answer to one request, or None when the path is no memory operation."""
        name = self.operation(method, path)
        if name is None:
            return None
        match = _OPERATIONS[name].match(path)
        assert match is not None
        if match["memory"] != self.memory_id:
            return _error(404, "ResourceNotFoundException", f"memory {match['memory']} not found")
        operation = {
            "CreateEvent": self._create,
            "ListEvents": self._list,
            "RetrieveMemoryRecords": self._retrieve,
        }
        with self._lock:
            return operation[name](body, **{k: v for k, v in match.groupdict().items() if k != "memory"})

    def add_record(
        self,
        namespace: str,
        text: str,
        *,
        score: float | None = None,
        strategy: str = "facts",
        reported_namespace: str | None = None,
    ) -> str:
        """File one long-term record; with `score`, it is a hit for every query (see the module docstring).

        `reported_namespace` makes retrieval report another namespace than the one it is filed under (a
        misfiled record, for tests of the agent's own namespace check). Returns the record id.
        """
        with self._lock:
            return self._insert(namespace, strategy, text, score=score, reported_namespace=reported_namespace)

    def clear_records(self) -> None:
        """Forget every long-term record."""
        with self._lock:
            self._db.execute("DELETE FROM records")

    # -- operations ----------------------------------------------------------------------------------------

    def _create(self, body: dict[str, Any]) -> Response:
        missing = [name for name in ("actorId", "sessionId", "eventTimestamp", "payload") if name not in body]
        if missing:
            return _error(400, "ValidationException", f"missing {missing}")
        token = body.get("clientToken")
        if isinstance(token, str):
            seen = self._db.execute(
                "SELECT e.event_id, e.actor_id, e.session_id, e.ts, e.payload FROM client_tokens t "
                "JOIN events e ON e.event_id = t.event_id WHERE t.client_token = ?",
                (token,),
            ).fetchone()
            if seen is not None:  # a retry of a request already answered: its event, nothing stored
                return 201, {"event": _event(self.memory_id, *seen[:4], json.loads(seen[4]))}
        event_id = f"{int(time.time() * 1000):013d}#{uuid.uuid4().hex[:12]}"
        timestamp = float(body["eventTimestamp"])
        payload = body["payload"]
        self._db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            (event_id, body["actorId"], body["sessionId"], timestamp, json.dumps(payload)),
        )
        if isinstance(token, str):
            self._db.execute("INSERT INTO client_tokens VALUES (?, ?)", (token, event_id))
        self._file(payload, actor=body["actorId"], session=body["sessionId"], timestamp=timestamp)
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
            rows = self._db.execute(f"SELECT {_RECORD} FROM records WHERE namespace = ?", (namespace,))
        else:
            rows = self._db.execute(
                f"SELECT {_RECORD} FROM records WHERE substr(namespace, 1, ?) = ?", (len(prefix), prefix)
            )
        limit = min(int(criteria.get("topK") or 10), int(body.get("maxResults") or 100))
        return 200, {"memoryRecordSummaries": _ranked(rows.fetchall(), str(criteria["searchQuery"]), limit)}

    # -- the extraction emulation --------------------------------------------------------------------------

    def _file(self, payload: list[dict[str, Any]], *, actor: str, session: str, timestamp: float) -> None:
        """Keep the USER messages of an event; an ASSISTANT message extracts the session's kept ones."""
        answered = False
        for item in payload:
            conversational = item.get("conversational") or {}
            text = str((conversational.get("content") or {}).get("text") or "").strip()
            role = str(conversational.get("role", "")).upper()
            if role == "USER" and text:
                self._db.execute(
                    "INSERT INTO unextracted VALUES (?, ?, ?, ?)", (actor, session, timestamp, text)
                )
            answered = answered or role == "ASSISTANT"
        if answered:
            where = "FROM unextracted WHERE actor_id = ? AND session_id = ?"
            for (text,) in self._db.execute(
                f"SELECT text {where} ORDER BY ts, rowid", (actor, session)
            ).fetchall():
                self._extract(text, actor=actor, session=session)
            self._db.execute(f"DELETE {where}", (actor, session))

    def _extract(self, text: str, *, actor: str, session: str) -> None:
        """File a user message under each strategy's namespace (see the module docstring)."""
        for strategy, template in self.namespaces.items():
            namespace = template.replace("{actorId}", actor).replace("{sessionId}", session)
            namespace = namespace.replace("{memoryStrategyId}", f"{strategy}-local")
            if strategy == "summaries":
                self._append_summary(namespace, strategy, text)
            elif self._files(strategy, text) and not self._holds(namespace, text):
                self._insert(namespace, strategy, text)

    @staticmethod
    def _files(strategy: str, text: str) -> bool:
        """Whether the facts or preferences strategy extracts `text`."""
        return strategy == "facts" or (strategy == "preferences" and bool(_PREFERENCE.search(text)))

    def _holds(self, namespace: str, text: str) -> bool:
        """Whether `namespace` has a record of these words already (case and spacing aside)."""
        words = " ".join(text.lower().split())
        rows = self._db.execute("SELECT text FROM records WHERE namespace = ?", (namespace,))
        return any(" ".join(row[0].lower().split()) == words for row in rows)

    def _insert(
        self,
        namespace: str,
        strategy: str,
        text: str,
        record_id: str | None = None,
        *,
        score: float | None = None,
        reported_namespace: str | None = None,
    ) -> str:
        record_id = record_id or f"mem-{uuid.uuid4()}"
        self._db.execute(
            f"INSERT OR REPLACE INTO records ({_RECORD}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record_id, namespace, strategy, text, time.time(), score, reported_namespace),
        )
        return record_id

    def _append_summary(self, namespace: str, strategy: str, text: str) -> None:
        record_id = f"mem-summary-{uuid.uuid5(uuid.NAMESPACE_URL, namespace)}"
        row = self._db.execute("SELECT text FROM records WHERE record_id = ?", (record_id,)).fetchone()
        summary = f"{row[0]} | {text}" if row else f"In this session the user said: {text}"
        self._insert(namespace, strategy, summary[-SUMMARY_CHARS:], record_id)


def _ranked(rows: list[tuple[Any, ...]], query: str, limit: int) -> list[dict[str, Any]]:
    """Hits best first as MemoryRecordSummary shapes: records with a fixed score, and those sharing a word
    with the query scored by BM25 (normalised to 0..1)."""
    terms = set(_terms(query))
    lexical = [row for row in rows if row[5] is None and terms & set(_terms(row[3]))]
    scores = BM25Okapi([_terms(row[3]) for row in lexical]).get_scores(list(terms)) if lexical else []
    top = max(scores, default=0.0) or 1.0
    hits = [(round(max(score, 0.0) / top, 4), row) for score, row in zip(scores, lexical, strict=True)]
    hits += [(float(row[5]), row) for row in rows if row[5] is not None]
    hits.sort(key=lambda hit: (-hit[0], -hit[1][4]))
    return [
        {
            "memoryRecordId": row[0],
            "content": {"text": row[3]},
            "memoryStrategyId": f"{row[2]}-local",
            "namespaces": [row[6] or row[1]],
            "createdAt": row[4],
            "score": score,
        }
        for score, row in hits[:limit]
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
