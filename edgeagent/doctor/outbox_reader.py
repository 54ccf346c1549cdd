"""A read-only view of the outbox for doctor, `outbox stats|export` and `test-alarm`.

Opens SQLite with `mode=ro`: never creates, migrates or "recovers" the file
(the writer's job), and in WAL mode a reader never blocks the running
daemon. Safe to use while `edgeagent run` is writing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgeagent.errors import EdgeAgentError
from edgeagent.i18n import _
from edgeagent.models import Priority
from edgeagent.outbox import (
    QUARANTINE_SEQS_SHOWN,
    export_bodies,
    quarantined_rows,
    truncation_counts,
)
from edgeagent.seq_mark import mark_path, read_mark

PRIORITY_NAMES = {int(p): p.name.lower() for p in Priority}


class OutboxUnreadable(EdgeAgentError):
    """The outbox file is missing or is not an edgeagent outbox."""


class OutboxReader:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise OutboxUnreadable(_("{path} does not exist (the agent has not run yet?)")
                                   .format(path=self.path))
        try:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=2000")
            self._conn.execute("SELECT 1 FROM events LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise OutboxUnreadable(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> OutboxReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def stats(self, max_bytes: int | None = None) -> dict[str, Any]:
        """Depth by class, oldest undelivered, evictions: what a technician asks first."""
        conn = self._conn
        quarantined = [row["seq"] for row in quarantined_rows(conn)]
        held = ",".join(str(seq) for seq in quarantined)  # ints only: safe to inline
        not_held = f" AND seq NOT IN ({held})" if held else ""
        by_priority = {int(p): int(n) for p, n in conn.execute(
            "SELECT priority, COUNT(*) FROM events WHERE delivered_at IS NULL"  # noqa: S608
            f"{not_held} GROUP BY priority")}
        oldest_ts, oldest_created = conn.execute(
            "SELECT MIN(ts), MIN(created) FROM events WHERE delivered_at IS NULL"  # noqa: S608
            f"{not_held}").fetchone()
        delivered = conn.execute(
            "SELECT COUNT(*) FROM events WHERE delivered_at IS NOT NULL").fetchone()[0]
        stored = conn.execute("SELECT COALESCE(SUM(size), 0) FROM events").fetchone()[0]
        evicted = {str(k).split(":", 1)[1]: int(v) for k, v in conn.execute(
            "SELECT key, value FROM meta WHERE key LIKE 'evicted:%'")}
        return {
            "path": str(self.path),
            "pending": sum(by_priority.values()),
            "pending_by_class": {PRIORITY_NAMES.get(p, str(p)): n
                                 for p, n in sorted(by_priority.items())},
            "oldest_pending_ts": oldest_ts,
            "oldest_pending_created": oldest_created,
            "delivered_kept": int(delivered),
            "last_seq": int(self._meta("last_seq") or 0),
            "last_delivered_seq": int(self._meta("last_delivered_seq") or 0),
            "evicted": evicted,
            "evicted_total": sum(evicted.values()),
            "stored_bytes": int(stored),
            "max_bytes": max_bytes,
            "quarantined": len(quarantined),
            "quarantined_seqs": quarantined[:QUARANTINE_SEQS_SHOWN],
            "truncated": truncation_counts(conn),
            "salvage": self._salvage(),
            "high_water_seq": getattr(read_mark(mark_path(self.path)), "high_water_seq", None),
        }

    def _salvage(self) -> dict[str, Any] | None:
        """The last corruption recovery: where the old file went, what was re-imported."""
        try:
            doc = json.loads(self._meta("salvage") or "null")
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def quarantined(self) -> list[dict[str, Any]]:
        """Quarantined events still stored: seq, attempts, reason, when, kind, type."""
        return quarantined_rows(self._conn)

    def delivered_at(self, seq: int) -> float | None:
        """When the broker's PUBACK for `seq` was recorded, or None (pending or unknown)."""
        row = self._conn.execute("SELECT delivered_at FROM events WHERE seq=?",
                                 (seq,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def export(self, since_seq: int = 0, *, quarantined: bool = False) -> Iterator[str]:
        return export_bodies(self._conn, since_seq, quarantined=quarantined)
