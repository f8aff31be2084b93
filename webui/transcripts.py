"""What the page showed of each turn, kept per user and session, so that a reload (or a restart of the
local stage) shows every session again and any of them can be continued.

The agent keeps the conversation itself (its session cache, then Memory), but not what the page shows of a
turn: the tool calls with their results, the usage, the turn's time (which finds its spans). So the server
records each turn's events as the agent streamed them, in SQLite: a file under the local stage's state
directory for `make local`, in memory for `scripts/chat.py` (a deployed stage's conversations are not written
to the developer's disk). A turn is recorded when it starts (a reload while it streams shows its prompt) and
completed when its stream ends.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

TITLE_CHARS = 80
_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    user TEXT NOT NULL,
    session_id TEXT NOT NULL,
    turn INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    events TEXT NOT NULL DEFAULT '[]',
    started_ns INTEGER NOT NULL,
    ended_ns INTEGER,
    PRIMARY KEY (user, session_id, turn)
)
"""


class Transcripts:
    """Turns per (user, session); `path` None keeps them in memory. Safe to share between request threads."""

    def __init__(self, path: Path | None) -> None:
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def begin(self, user: str, session_id: str, prompt: str) -> tuple[int, int]:
        """Record a turn's start; (its index in the session, its start in ns since the epoch)."""
        started = time.time_ns()
        with self._lock, self._db:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM turns WHERE user = ? AND session_id = ?", (user, session_id)
            ).fetchone()
            self._db.execute(
                "INSERT INTO turns (user, session_id, turn, prompt, started_ns) VALUES (?, ?, ?, ?, ?)",
                (user, session_id, count, prompt, started),
            )
        return count, started

    def finish(self, user: str, session_id: str, turn: int, events: list[Any]) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE turns SET events = ?, ended_ns = ? WHERE user = ? AND session_id = ? AND turn = ?",
                (json.dumps(events), time.time_ns(), user, session_id, turn),
            )

    def sessions(self, user: str) -> list[dict[str, Any]]:
        """The user's sessions, the latest first: id, title (its first prompt), turns, last activity (ms)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT session_id, COUNT(*), MAX(started_ns), "
                "(SELECT prompt FROM turns AS f WHERE f.user = t.user AND f.session_id = t.session_id "
                "AND f.turn = 0) FROM turns AS t WHERE user = ? GROUP BY session_id "
                "ORDER BY MAX(started_ns) DESC",
                (user,),
            ).fetchall()
        return [
            {"id": sid, "title": (title or "")[:TITLE_CHARS], "turns": count, "updated_ms": last // 1_000_000}
            for sid, count, last, title in rows
        ]

    def turns(self, user: str, session_id: str) -> list[dict[str, Any]]:
        """The session's turns in order: index, prompt, events, start and end (ns; end None while running)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT turn, prompt, events, started_ns, ended_ns FROM turns "
                "WHERE user = ? AND session_id = ? ORDER BY turn",
                (user, session_id),
            ).fetchall()
        return [
            {
                "turn": turn,
                "prompt": prompt,
                "events": json.loads(events),
                "started_ns": start,
                "ended_ns": end,
            }
            for turn, prompt, events, start, end in rows
        ]

    def turn(self, user: str, session_id: str, turn: int) -> dict[str, Any] | None:
        return next((t for t in self.turns(user, session_id) if t["turn"] == turn), None)

    def close(self) -> None:
        self._db.close()
