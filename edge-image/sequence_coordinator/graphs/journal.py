"""Durable graph state: one SQLite row per graph, rewritten after every change.

The engine saves a graph (in one transaction) before it hands that graph's
new orders to the venue port, so every order a venue may have seen is in the
journal with its client order id. On restart the engine loads every graph
that had not finished and asks the venues to cancel the orders that were
open; the slices then continue with the next attempt's ids, so no id is ever
sent twice.

WAL mode with synchronous=NORMAL: a committed save survives a crash of the
process (kill -9); a power loss may lose the last saves. Pass
`durable=True` for synchronous=FULL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .model import GraphRuntime

SCHEMA = """
CREATE TABLE IF NOT EXISTS graphs (
    graph_id   TEXT PRIMARY KEY,
    client_id  TEXT,
    finished   INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    state      TEXT NOT NULL
)
"""


class GraphJournal:
    def __init__(self, path: str | Path, *, durable: bool = False) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute(SCHEMA)

    def save(self, graphs: list[GraphRuntime]) -> None:
        """Write these graphs' current state in one transaction."""
        if not graphs:
            return
        rows = [
            (g.graph_id, g.client_id, int(g.final_status is not None), g.updated_ms, g.model_dump_json())
            for g in graphs
        ]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO graphs (graph_id, client_id, finished, updated_ms, state) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(graph_id) DO UPDATE SET finished = excluded.finished, "
                "updated_ms = excluded.updated_ms, state = excluded.state",
                rows,
            )

    def load(self) -> list[GraphRuntime]:
        """Every journaled graph, oldest first (finished ones too: their status stays queryable)."""
        cur = self._db.execute("SELECT state FROM graphs ORDER BY rowid")
        return [GraphRuntime.model_validate_json(state) for (state,) in cur]

    def forget_finished(self, older_than_ms: int) -> int:
        """Drop graphs that finished before `older_than_ms`; returns how many."""
        with self._db:
            cur = self._db.execute(
                "DELETE FROM graphs WHERE finished = 1 AND updated_ms < ?", (older_than_ms,)
            )
        return cur.rowcount

    def close(self) -> None:
        self._db.close()
