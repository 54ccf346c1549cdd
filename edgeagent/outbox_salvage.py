"""Read what can still be read of an outbox file that was moved aside as corrupt.

A corrupt page costs the rows on that page, not the whole file: the events
table is walked in seq chunks, and a chunk that fails is retried one seq at a
time, so every readable undelivered event (seq, id and body unchanged) goes
back into the fresh outbox. What could not be read is counted, never guessed.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHUNK = 256
EVENT_COLUMNS = ("seq", "id", "priority", "kind", "type", "ts", "clock", "mono", "boot_id",
                 "body", "size", "created")
_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)}, delivered_at FROM events"  # noqa: S608 - constants


@dataclass(slots=True)
class Salvage:
    """What a damaged outbox still told us. `unsalvaged` is None when it told us nothing."""

    last_seq: int = 0
    last_delivered_seq: int = 0
    events: list[tuple[Any, ...]] = field(default_factory=list)  # undelivered, EVENT_COLUMNS
    state: dict[str, str] = field(default_factory=dict)  # meta rows worth keeping
    unsalvaged: int | None = 0

    @property
    def high_seq(self) -> int:
        return max([self.last_seq, *(int(row[0]) for row in self.events[-1:])])


def salvage(path: Path) -> Salvage:
    """Everything readable of the outbox at `path` (opened read-only; never written)."""
    result = Salvage()
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        log.error("outbox %s cannot be opened to salvage it: %s", path, exc)  # noqa: TRY400
        result.unsalvaged = None
        return result
    try:
        _read_meta(conn, result)
        top = _highest_seq(conn, result.last_seq)
        if top is None:
            result.unsalvaged = None
            return result
        _read_events(conn, top, result)
    finally:
        conn.close()
    return result


def _read_meta(conn: sqlite3.Connection, result: Salvage) -> None:
    for key in ("last_seq", "last_delivered_seq"):
        with contextlib.suppress(sqlite3.Error, ValueError, TypeError):
            row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            if row is not None:
                setattr(result, key, int(row[0]))
    with contextlib.suppress(sqlite3.Error):
        for key, value in conn.execute(
                "SELECT key, value FROM meta WHERE key LIKE 'state:%' OR key LIKE 'evicted:%'"):
            result.state[str(key)] = str(value)


def _highest_seq(conn: sqlite3.Connection, meta_last_seq: int) -> int | None:
    """The top of the seq range to walk, or None when the events table is unreadable."""
    try:
        top = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    except sqlite3.Error as exc:
        if not meta_last_seq:
            log.error("outbox events cannot be read at all: %s", exc)  # noqa: TRY400
            return None
        return meta_last_seq
    return max(int(top or 0), meta_last_seq)


def _read_events(conn: sqlite3.Connection, top: int, result: Salvage) -> None:
    unreadable = 0
    after = 0
    while after < top:
        try:
            rows = conn.execute(f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?",
                                (after, CHUNK)).fetchall()
        except sqlite3.Error:
            rows = []
            for seq in range(after + 1, min(after + CHUNK, top) + 1):
                try:
                    rows.extend(conn.execute(f"{_SELECT} WHERE seq = ?", (seq,)).fetchall())
                except sqlite3.Error:
                    unreadable += 1
            after = min(after + CHUNK, top)
        else:
            if not rows:
                break
            after = int(rows[-1][0])
        for row in rows:
            if row[-1] is not None:
                continue  # delivered: the platform has it
            if _intact(row):
                result.events.append(tuple(row[:-1]))
            else:
                unreadable += 1
    result.unsalvaged = unreadable


def _intact(row: tuple[Any, ...]) -> bool:
    """A row a damaged page did not garble: its body carries its own seq and id."""
    seq, event_id, body = row[0], row[1], row[9]
    return (isinstance(body, str) and isinstance(event_id, str) and bool(event_id)
            and f'"seq":{seq},' in body and f'"id":"{event_id}"' in body)
