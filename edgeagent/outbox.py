"""The durable outbox: the only way out. Every event is committed here before any publish.

SQLite in WAL mode with `synchronous=FULL`: a commit returns only after the
WAL is fsynced, so an event the agent has numbered survives kill -9 *and*
power loss. NORMAL would be faster but may lose the last transactions on a
power cut, and an alarm we numbered and then forgot would show as a `seq`
gap with no explanation. We buy the speed back by committing all drafts of
one loop iteration in one transaction.

`seq` is allocated inside the inserting transaction from a counter row, so
it is gap-free across restarts; evictions are counted and reported instead
of renumbering.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, cast

from edgeagent.clock import iso_utc
from edgeagent.errors import OutboxError, OutboxFull, OutboxLocked, OutboxUnwritable
from edgeagent.event import Event, Source, corrected, from_draft, parse, render
from edgeagent.ids import uuid7_str
from edgeagent.limits import CUT_ALERT_DATA_BYTES, MAX_EVENT_BYTES, cut_data, json_size
from edgeagent.models import ClockQuality, Draft, Kind, Priority
from edgeagent.outbox_salvage import salvage
from edgeagent.seq_mark import SEQ_RESERVE, SeqMark, mark_path, read_mark, write_mark

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ROW_OVERHEAD = 96  # bytes of index and row header per event, measured on a filled outbox
EVICTABLE = (Priority.RAW_STATE, Priority.VITAL_OR_SUMMARY)
BUSY_TIMEOUT_MS = 5000
# How long a start waits for another process's write lock before giving up with
# OutboxLocked (exit 75): well inside the unit's TimeoutStartSec=60.
LOCK_WAIT_S = 30.0
# Only these mean "the file is damaged" (besides a failed quick_check): nothing else
# may move an outbox aside. Locked and not-writable files are left alone.
_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_DENIED_CODES = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN,
                           sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH})
QUARANTINE_SEQS_SHOWN = 50  # seqs listed in status; the count is always whole
SOURCE_MAX_BYTES = 1024  # a source (driver, device, room) above this has its strings clipped


class StoredEvent(NamedTuple):
    """A numbered event as stored: its row's columns and its body exactly as stored."""

    seq: int
    id: str
    priority: int
    kind: str
    type: str
    body: str
    created: float


@dataclass(slots=True)
class OutboxStats:
    pending: int
    pending_by_priority: dict[int, int]
    delivered_kept: int
    oldest_pending_ts: str | None
    last_seq: int
    last_delivered_seq: int
    evicted: dict[str, int]
    stored_bytes: int
    max_bytes: int
    full: bool
    recovered_from: str | None = None
    salvage: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Set aside after the broker dropped the link with them in flight, not counted in `pending`.
    quarantined: int = 0
    quarantined_seqs: list[int] = field(default_factory=list)
    # Bodies cut to fit: on storing ("stored") and alerts re-sent cut ("alerts_after_drops").
    truncated: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "pending_by_priority": {str(k): v for k, v in self.pending_by_priority.items()},
            "delivered_kept": self.delivered_kept,
            "oldest_pending_ts": self.oldest_pending_ts,
            "last_seq": self.last_seq,
            "last_delivered_seq": self.last_delivered_seq,
            "evicted": dict(self.evicted),
            "stored_bytes": self.stored_bytes,
            "max_bytes": self.max_bytes,
            "full": self.full,
            "recovered_from": self.recovered_from,
            "salvage": self.salvage,
            "quarantined": self.quarantined,
            "quarantined_seqs": list(self.quarantined_seqs),
            "truncated": dict(self.truncated),
        }


@dataclass(slots=True)
class ResendPlan:
    """The seqs of a `resend` request, sorted by what the outbox can do with them."""

    delivered: list[int]
    pending: list[int]
    unavailable: list[int]


class _ImmediateTransaction(contextlib.AbstractContextManager[sqlite3.Connection]):
    """`BEGIN IMMEDIATE` … `COMMIT`, or `ROLLBACK` on any exception.

    A class rather than a generator-based `contextmanager`, which cost a
    single-event append 10 500 of its 158 000 instructions (callgrind).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            return
        self._rollback()

    def _rollback(self) -> None:
        # Also when COMMIT itself failed (disk full): SQLite may or may not have
        # rolled back already, and a dangling transaction would swallow later writes.
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")


def _create_schema(conn: sqlite3.Connection) -> None:
    """Create tables and indexes in one transaction: a crash leaves all of it or none."""
    with _ImmediateTransaction(conn):
        _create_tables(conn)


def _create_tables(conn: sqlite3.Connection) -> None:
    # Plain DDL (the same tables sqlite-utils created in earlier versions, so old outboxes
    # open unchanged): importing sqlite-utils for this cost the daemon 3 MB of RSS.
    conn.execute(
        'CREATE TABLE IF NOT EXISTS "events" ("seq" INTEGER PRIMARY KEY, "id" TEXT, '
        '"priority" INTEGER, "kind" TEXT, "type" TEXT, "ts" TEXT, "clock" TEXT, "mono" REAL, '
        '"boot_id" TEXT, "body" TEXT, "size" INTEGER, "created" REAL, "delivered_at" REAL)'
    )
    # Partial index: the drain and eviction queries touch pending rows only,
    # so their cost does not grow with the delivered history kept.
    conn.execute("CREATE INDEX IF NOT EXISTS pending_order ON events(priority, seq) "
                 "WHERE delivered_at IS NULL")
    conn.execute("CREATE INDEX IF NOT EXISTS delivered_age ON events(delivered_at) "
                 "WHERE delivered_at IS NOT NULL")
    conn.execute("CREATE INDEX IF NOT EXISTS unsynced ON events(boot_id) "
                 "WHERE clock = 'unsynced'")
    conn.execute('CREATE TABLE IF NOT EXISTS "meta" ("key" TEXT PRIMARY KEY, "value" TEXT)')
    # Events the broker kept dropping the link over (Outbox.set_aside): kept, never drained.
    conn.execute('CREATE TABLE IF NOT EXISTS "quarantine" ("seq" INTEGER PRIMARY KEY, '
                 '"attempts" INTEGER, "reason" TEXT, "at" REAL)')
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                 (str(SCHEMA_VERSION),))
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('last_seq', '0')")


class Outbox:
    """Durable, ordered, size-capped event store. Single-threaded: use it from one thread."""

    def __init__(
        self,
        path: str | Path,
        home: str,
        *,
        boot_id: str,
        max_bytes: int = 200_000_000,
        retention: timedelta = timedelta(hours=72),
        max_event_bytes: int = MAX_EVENT_BYTES,
        lock_wait: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.lock_wait = LOCK_WAIT_S if lock_wait is None else lock_wait
        self.max_event_bytes = max_event_bytes
        self.home = home
        self.boot_id = boot_id
        self.max_bytes = max_bytes
        self.retention = retention
        self.recovered_from: str | None = None
        self.salvage: dict[str, Any] | None = None  # the last corruption recovery, if any
        self.full = False
        self.fresh = not self.path.exists()  # no earlier seq known from this file
        self._conn = self._open()
        if self.salvage is None:
            with contextlib.suppress(ValueError):
                self.salvage = json.loads(self._meta("salvage") or "null")
        self._last_seq = int(self._meta("last_seq") or 0)
        self._stored_bytes = int(self._conn.execute(
            "SELECT COALESCE(SUM(size), 0) FROM events").fetchone()[0])
        # Counted once here, then kept up to date by every write that changes it, so that
        # `stats()` (every status message) does not count the whole delivered history.
        self._delivered_kept = int(self._conn.execute(
            "SELECT COUNT(*) FROM events WHERE delivered_at IS NOT NULL").fetchone()[0])
        # The seq high-water mark beside the file (edgeagent/seq_mark.py): what an earlier
        # outbox here reserved, then this one's first reservation (the will and status
        # carry it from the first connect on).
        self.mark_path = mark_path(self.path)
        self.earlier_mark = read_mark(self.mark_path)
        self._reserved = self._last_seq
        self._reserve(self._last_seq)
        self._file_id = _file_id(self.path)

    # -- opening and recovery ------------------------------------------------------------

    def _connect(self, busy_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")  # before anything that may lock
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _open(self) -> sqlite3.Connection:  # noqa: C901 - each way SQLite can refuse the file gets its own outcome (wait, move aside, exit code)
        """Open the file; move it aside only when SQLite itself says it is corrupt.

        Locked by another process: wait (bounded), then OutboxLocked (exit 75, systemd
        retries). Not writable by this user: OutboxUnwritable (exit 2, naming the fix).
        Either way the file is left exactly as it is, pending events and all.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutboxUnwritable(_unwritable_text(self.path.parent, exc)) from exc
        deadline = time.monotonic() + self.lock_wait
        waiting = False
        while True:
            conn: sqlite3.Connection | None = None
            try:
                conn = self._connect(busy_ms=_busy_ms(deadline))
                problem = conn.execute("PRAGMA quick_check").fetchone()[0]
                if problem == "ok":
                    _create_schema(conn)
                    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                    if waiting:
                        log.warning("outbox %s: the other process let go; opened", self.path)
                    return conn
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
                code = _primary_code(exc)
                if code in _CORRUPT_CODES:
                    return self._recover(str(exc))
                if code in _BUSY_CODES:
                    if time.monotonic() >= deadline:
                        raise OutboxLocked(
                            f"outbox {self.path} is still locked by another process after "
                            f"{self.lock_wait:g} s ({exc}); the file is untouched, try again "
                            "later") from exc
                    if not waiting:
                        waiting = True
                        log.warning("outbox %s is locked by another process (%s); waiting up "
                                    "to %g s", self.path, exc, self.lock_wait)
                    time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
                    continue
                if code in _DENIED_CODES:
                    raise OutboxUnwritable(_unwritable_text(self.path, exc)) from exc
                raise OutboxError(f"outbox {self.path} cannot be opened ({exc}); the file "
                                  "is untouched") from exc
            conn.close()
            return self._recover(f"quick_check: {problem}")

    def _recover(self, reason: str) -> sqlite3.Connection:
        """Move a corrupt file aside, start fresh, and re-import what can still be read."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.rename(Path(str(aside) + suffix))
        saved = salvage(aside)
        self.recovered_from = str(aside)
        conn = self._connect()
        _create_schema(conn)
        with _ImmediateTransaction(conn):
            if saved.events:
                _insert_events(conn, saved.events)
            for key, value in saved.state.items():
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                             (key, value))
            conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (str(saved.high_seq),))
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES "
                         "('last_delivered_seq', ?)", (str(saved.last_delivered_seq),))
            self.salvage = {"from": str(aside), "at": stamp, "salvaged": len(saved.events),
                            "unsalvaged": saved.unsalvaged}
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('salvage', ?)",
                         (json.dumps(self.salvage, separators=(",", ":")),))
        self.fresh = saved.high_seq == 0
        unsalvaged = "unknown" if saved.unsalvaged is None else saved.unsalvaged
        log.error("outbox %s is corrupt (%s): moved aside to %s; re-imported %d undelivered "
                  "events, %s could not be read; starting from seq %d", self.path, reason,
                  aside, len(saved.events), unsalvaged, saved.high_seq + 1)
        return conn

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.write_mark()  # the exact last_seq at a clean stop
        self._conn.close()

    # -- the seq high-water mark and the file itself --------------------------------------

    @property
    def high_water_seq(self) -> int:
        """No seq above this was issued by this outbox or (unless lost) an earlier one."""
        earlier = self.earlier_mark.high_water_seq if self.earlier_mark else 0
        return max(self._reserved, self._last_seq, earlier)

    def write_mark(self) -> bool:
        """Record the high-water mark now; False (logged) when the disk refused."""
        # An earlier outbox's last_seq is kept until this one is past it: a crash before
        # the start-up check then still finds this outbox behind.
        earlier = self.earlier_mark.last_seq if self.earlier_mark else 0
        mark = SeqMark(self.high_water_seq, max(self._last_seq, earlier),
                       int(self._meta("last_delivered_seq") or 0))
        try:
            write_mark(self.mark_path, mark)
        except OSError as exc:
            log.error("cannot record the seq high-water mark in %s (%s); a lost outbox "  # noqa: TRY400
                      "could then reuse seqs above %d", self.mark_path, exc, self._last_seq)
            return False
        return True

    def _reserve(self, seq: int) -> None:
        """Claim seqs up to seq + SEQ_RESERVE in the mark file before the first is used."""
        self._reserved = seq + SEQ_RESERVE
        self.write_mark()

    def continue_above(self, floor: int) -> None:
        """Number the next event floor + 1 (a lost outbox's seqs are never reused)."""
        if floor <= self._last_seq:
            return
        with self._transaction() as conn:
            conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (str(floor),))
        self._last_seq = floor
        self._reserved = max(self._reserved, floor)

    def file_problem(self) -> str | None:
        """Why the open file is no longer the one at `path` (deleted, replaced), or None."""
        now = _file_id(self.path)
        if now == self._file_id:
            return None
        if now is None:
            return (f"outbox file {self.path} was deleted while the agent runs; events go "
                    "to a file that is gone after a restart")
        return f"outbox file {self.path} was replaced by another file while the agent runs"

    # -- writing -------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return _ImmediateTransaction(self._conn)

    def append(
        self,
        drafts: Sequence[Draft],
        *,
        synced: bool,
        state: dict[str, str] | None = None,
    ) -> list[StoredEvent]:
        """Number and commit drafts (and optional state rows) in one transaction.

        Returns the stored events; only after this returns may anyone publish them.
        Raises OutboxFull when the disk refuses the write: nothing is half-stored.
        """
        if not drafts and not state:
            return []
        rows, stored, truncated = self._number(drafts, synced=synced)
        seq = self._last_seq + len(rows)
        added = sum(row[_SIZE] for row in rows)
        if seq > self._reserved:
            self._reserve(seq)
        try:
            with self._transaction() as conn:
                if rows:
                    _insert_events(conn, rows)
                    conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (str(seq),))
                if truncated:
                    _count(conn, "truncated:stored", truncated)
                for key, value in (state or {}).items():
                    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                                 (f"state:{key}", value))
        except sqlite3.OperationalError as exc:
            if _is_disk_full(exc):
                self.full = True
                raise OutboxFull(f"outbox disk full: {exc}") from exc
            raise OutboxError(f"outbox write failed: {exc}") from exc
        self.full = False
        self._last_seq = seq
        self._stored_bytes += added
        if self._stored_bytes > self.max_bytes:
            self.enforce_cap()
        return stored

    def _number(self, drafts: Sequence[Draft], *, synced: bool,
                ) -> tuple[list[tuple[Any, ...]], list[StoredEvent], int]:
        """The rows and stored events of drafts numbered after `last_seq`, and how many
        bodies had to be cut to fit `max_event_bytes`."""
        clock = ClockQuality.SYNCED if synced else ClockQuality.UNSYNCED
        rows: list[tuple[Any, ...]] = []
        stored: list[StoredEvent] = []
        now = time.time()
        truncated = 0
        for seq, draft in enumerate(drafts, start=self._last_seq + 1):
            event = from_draft(draft, id=uuid7_str(), home=self.home, seq=seq,
                               ts=iso_utc(draft.wall), clock=clock)
            body = render(event)
            if (body_bytes := len(body.encode())) > self.max_event_bytes:
                body = render(_fit(event, body_bytes, self.max_event_bytes))
                truncated += 1
            priority, kind = int(draft.priority), str(draft.kind)
            rows.append((seq, event.id, priority, kind, draft.type, event.ts, str(clock),
                         draft.mono, self.boot_id, body, len(body) + ROW_OVERHEAD, now))
            stored.append(StoredEvent(seq, event.id, priority, kind, draft.type, body, now))
        return rows, stored, truncated

    def load_state(self, key: str) -> str | None:
        return self._meta(f"state:{key}")

    # -- draining ------------------------------------------------------------------------

    def pending(self, limit: int, skip: Iterable[int] = ()) -> list[StoredEvent]:
        """Undelivered events in drain order (priority, then seq), minus `skip` (in flight)."""
        # The in-flight window is excluded inside SQLite: the pending index alone decides,
        # so their bodies are not read again on every refill of the window.
        cursor = self._conn.execute(
            "SELECT seq, id, priority, kind, type, body, created FROM events "
            "WHERE delivered_at IS NULL AND seq NOT IN (SELECT value FROM json_each(?)) "
            "AND seq NOT IN (SELECT seq FROM quarantine) "
            "ORDER BY priority, seq LIMIT ?",
            (_json_ints(skip), limit),
        )
        return [StoredEvent(*row) for row in cursor]

    def mark_delivered(self, seqs: Sequence[int], when: float | None = None) -> None:
        """Record broker PUBACKs. Only a PUBACK for that exact message gets a row here."""
        if not seqs:
            return
        stamp = time.time() if when is None else when
        # A delivered mark needs no fsync of its own: if a power cut loses it, the
        # event is sent again (at-least-once; the platform dedups by id), and the
        # next FULL commit syncs the WAL with this transaction in it. This takes
        # the disk's fsync latency out of the drain rate (docs/performance.md).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        try:
            self._mark(seqs, stamp)
        finally:
            self._conn.execute("PRAGMA synchronous=FULL")

    def _mark(self, seqs: Sequence[int], stamp: float) -> None:
        with self._transaction() as conn:
            marked = conn.execute(
                "UPDATE events SET delivered_at=? WHERE delivered_at IS NULL "
                "AND seq IN (SELECT value FROM json_each(?))",
                (stamp, _json_ints(seqs)),
            ).rowcount
            high = max(seqs)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('last_delivered_seq', ?) "
                # Both sides as integers: the column is TEXT, and SQLite's max() ranks any text
                # above any integer, so batches acked out of seq order set it backwards.
                "ON CONFLICT(key) DO UPDATE SET "
                "value=max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                (high,),
            )
        self._delivered_kept += marked

    # -- events the broker will not take ------------------------------------------------

    def set_aside(self, seq: int, attempts: int, reason: str) -> str:
        """The broker dropped the link `attempts` times with `seq` in flight: stop the blockage.

        An alert is never quarantined: the first time, it is stored again with its
        `data` cut to CUT_ALERT_DATA_BYTES (marked, counted) and returns "cut", to be
        sent again; an alert already that small returns "kept". Any other event is
        quarantined ("quarantined"): no longer drained, kept and reported. "gone" when
        the event is delivered or no longer stored.
        """
        row = self._conn.execute(
            "SELECT kind, body, size FROM events WHERE seq=? AND delivered_at IS NULL",
            (seq,)).fetchone()
        if row is None:
            return "gone"
        kind, body, size = str(row[0]), str(row[1]), int(row[2])
        if kind == Kind.ALERT:
            event = parse(body)
            if json_size(event.data) <= CUT_ALERT_DATA_BYTES:
                return "kept"
            new_body = render(replace(event, data=cut_data(event.data, CUT_ALERT_DATA_BYTES,
                                                           len(body.encode()))))
            new_size = len(new_body) + ROW_OVERHEAD
            with self._transaction() as conn:
                conn.execute("UPDATE events SET body=?, size=? WHERE seq=?",
                             (new_body, new_size, seq))
                _count(conn, "truncated:alerts_after_drops", 1)
            self._stored_bytes += new_size - size
            log.error("outbox: alert seq %d was dropped with the link %d times (%s): its data "
                      "is cut to %d bytes and it is sent again", seq, attempts, reason,
                      CUT_ALERT_DATA_BYTES)
            return "cut"
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO quarantine(seq, attempts, reason, at) "
                         "VALUES (?, ?, ?, ?)", (seq, attempts, reason, time.time()))
        log.error("outbox: event seq %d quarantined after the broker dropped the link %d times "
                  "with it in flight (%s); the rest drains, `edgeagent outbox export "
                  "--quarantined` shows it", seq, attempts, reason)
        return "quarantined"

    def quarantined(self) -> list[dict[str, Any]]:
        """Quarantined events still stored, by seq: what `resend` must call unavailable."""
        return quarantined_rows(self._conn)

    # -- answering the platform's `resend` ------------------------------------------------

    def resend_plan(self, ranges: Sequence[tuple[int, int]]) -> ResendPlan:
        """Sort the seqs of `ranges` (up to last_seq) into delivered (can be sent again),
        pending (on their way already) and unavailable (evicted by the disk cap, pruned
        past retention, lost with an earlier outbox, or quarantined)."""
        plan = ResendPlan([], [], [])
        quarantined = {row["seq"] for row in quarantined_rows(self._conn)}
        for low, asked_high in ranges:
            high = min(asked_high, self._last_seq)
            stored = dict(self._conn.execute(
                "SELECT seq, delivered_at IS NOT NULL FROM events WHERE seq BETWEEN ? AND ?",
                (low, high)).fetchall())
            for seq in range(low, high + 1):
                delivered = stored.get(seq)
                if delivered is None or seq in quarantined:
                    plan.unavailable.append(seq)
                elif delivered:
                    plan.delivered.append(seq)
                else:
                    plan.pending.append(seq)
        return plan

    def stored_events(self, seqs: Iterable[int]) -> list[StoredEvent]:
        """The stored events among `seqs`, in seq order (bodies exactly as stored)."""
        cursor = self._conn.execute(
            "SELECT seq, id, priority, kind, type, body, created FROM events "
            "WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq", (_json_ints(seqs),))
        return [StoredEvent(*row) for row in cursor]

    @property
    def oldest_available_seq(self) -> int:
        """The lowest seq `resend` can still answer (nothing below it is stored);
        last_seq + 1 when nothing is."""
        row = self._conn.execute(
            "SELECT MIN(seq) FROM events WHERE seq NOT IN (SELECT seq FROM quarantine)"
        ).fetchone()
        return self._last_seq + 1 if row is None or row[0] is None else int(row[0])

    # -- limits and housekeeping ---------------------------------------------------------

    def enforce_cap(self) -> int:
        """Drop delivered history, then oldest raw states, then oldest readings; never alerts."""
        evicted = 0
        if self._stored_bytes <= self.max_bytes:
            return 0
        with self._transaction() as conn:
            freed = conn.execute(
                "SELECT COALESCE(SUM(size), 0) FROM events WHERE delivered_at IS NOT NULL"
            ).fetchone()[0]
            dropped = conn.execute("DELETE FROM events WHERE delivered_at IS NOT NULL").rowcount
            self._stored_bytes -= int(freed)
            self._delivered_kept -= dropped
            for priority in EVICTABLE:
                while self._stored_bytes > self.max_bytes:
                    batch = conn.execute(
                        "SELECT seq, size FROM events WHERE delivered_at IS NULL AND priority=? "
                        "ORDER BY seq LIMIT 500", (int(priority),),
                    ).fetchall()
                    if not batch:
                        break
                    over = self._stored_bytes - self.max_bytes
                    take: list[int] = []
                    for seq, size in batch:
                        take.append(seq)
                        over -= size
                        self._stored_bytes -= size
                        if over <= 0:
                            break
                    conn.executemany("DELETE FROM events WHERE seq=?", [(s,) for s in take])
                    key = f"evicted:{priority.name.lower()}"
                    conn.execute(
                        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                        "SET value=CAST(value AS INTEGER) + excluded.value", (key, len(take)),
                    )
                    evicted += len(take)
        if evicted:
            log.warning("outbox over its %d-byte cap: evicted %d events", self.max_bytes, evicted)
        return evicted

    def prune_delivered(self, now: float | None = None) -> int:
        """Delete delivered rows older than the retention window."""
        cutoff = (time.time() if now is None else now) - self.retention.total_seconds()
        with self._transaction() as conn:
            freed = conn.execute(
                "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM events "
                "WHERE delivered_at IS NOT NULL AND delivered_at < ?", (cutoff,),
            ).fetchone()
            conn.execute("DELETE FROM events WHERE delivered_at IS NOT NULL AND delivered_at < ?",
                         (cutoff,))
        self._stored_bytes -= int(freed[0])
        self._delivered_kept -= int(freed[1])
        return int(freed[1])

    def correct_clock(self, mono_now: float, wall_now: datetime) -> int:
        """After NTP sync: rewrite `ts` of this boot's unsynced, undelivered events.

        Monotonic time is trustworthy within one boot, so wall = now - (mono_now - mono).
        Events of earlier boots keep their timestamp and stay marked `unsynced`.
        """
        rows = self._conn.execute(
            "SELECT seq, mono, body FROM events WHERE clock='unsynced' AND boot_id=? "
            "AND delivered_at IS NULL", (self.boot_id,),
        ).fetchall()
        updates = []
        for seq, mono, body in rows:
            ts = iso_utc(wall_now - timedelta(seconds=mono_now - mono))
            updates.append((ts, corrected(body, ts), seq))
        if updates:
            with self._transaction() as conn:
                conn.executemany(
                    "UPDATE events SET ts=?, clock='corrected', body=? WHERE seq=?", updates)
        return len(updates)

    # -- reporting -----------------------------------------------------------------------

    def stats(self) -> OutboxStats:
        conn = self._conn
        by_priority = {
            int(p): int(n) for p, n in conn.execute(
                "SELECT priority, COUNT(*) FROM events WHERE delivered_at IS NULL "
                "AND seq NOT IN (SELECT seq FROM quarantine) GROUP BY priority")
        }
        oldest = conn.execute(
            "SELECT MIN(ts) FROM events WHERE delivered_at IS NULL "
            "AND seq NOT IN (SELECT seq FROM quarantine)").fetchone()[0]
        quarantined = [row["seq"] for row in quarantined_rows(conn)]
        evicted = {
            str(k).split(":", 1)[1]: int(v) for k, v in conn.execute(
                "SELECT key, value FROM meta WHERE key LIKE 'evicted:%'")
        }
        return OutboxStats(
            pending=sum(by_priority.values()),
            pending_by_priority=by_priority,
            delivered_kept=self._delivered_kept,
            oldest_pending_ts=oldest,
            last_seq=self._last_seq,
            last_delivered_seq=int(self._meta("last_delivered_seq") or 0),
            evicted=evicted,
            stored_bytes=self._stored_bytes,
            max_bytes=self.max_bytes,
            full=self.full,
            recovered_from=self.recovered_from,
            salvage=self.salvage,
            quarantined=len(quarantined),
            quarantined_seqs=quarantined[:QUARANTINE_SEQS_SHOWN],
            truncated=truncation_counts(conn),
        )

    def export(self, since_seq: int = 0, *, quarantined: bool = False) -> Iterator[str]:
        """Every stored event body with seq > since_seq, in seq order (JSON lines)."""
        return export_bodies(self._conn, since_seq, quarantined=quarantined)

    def purge_delivered(self) -> int:
        return self.prune_delivered(now=float("inf"))

    @property
    def last_seq(self) -> int:
        return self._last_seq


_EVENT_COLUMNS = ("seq", "id", "priority", "kind", "type", "ts", "clock", "mono", "boot_id",
                  "body", "size", "created")
_SIZE = _EVENT_COLUMNS.index("size")
_INSERT_SQL = (f"INSERT INTO events({', '.join(_EVENT_COLUMNS)}) "  # noqa: S608 - constants only
               f"VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})")


def _insert_events(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows (inside the caller's transaction: one commit for the whole batch)."""
    conn.executemany(_INSERT_SQL, rows)


def quarantined_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Quarantined, still stored, undelivered events of an outbox connection, by seq.

    Shared with the read-only view (doctor, `outbox stats`); an outbox written before
    quarantine existed has no table and no quarantined events.
    """
    try:
        rows = conn.execute(
            "SELECT q.seq, q.attempts, q.reason, q.at, e.kind, e.type FROM quarantine q "
            "JOIN events e ON e.seq = q.seq WHERE e.delivered_at IS NULL ORDER BY q.seq"
        ).fetchall()
    except sqlite3.OperationalError:  # no such table
        return []
    return [{"seq": int(seq), "attempts": int(attempts), "reason": str(reason), "at": at,
             "kind": str(kind), "type": str(type_)}
            for seq, attempts, reason, at, kind, type_ in rows]


def truncation_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Bodies cut to fit, by occasion (`stored`, `alerts_after_drops`), from `meta`."""
    return {str(k).split(":", 1)[1]: int(v) for k, v in conn.execute(
        "SELECT key, value FROM meta WHERE key LIKE 'truncated:%'")}


def export_bodies(conn: sqlite3.Connection, since_seq: int, *,
                  quarantined: bool = False) -> Iterator[str]:
    """Stored bodies with seq > since_seq in seq order; only quarantined ones if asked."""
    if quarantined:
        seqs = [row["seq"] for row in quarantined_rows(conn) if row["seq"] > since_seq]
        cursor = conn.execute("SELECT body FROM events WHERE seq IN (SELECT value FROM "
                              "json_each(?)) ORDER BY seq", (_json_ints(seqs),))
    else:
        cursor = conn.execute("SELECT body FROM events WHERE seq > ? ORDER BY seq",
                              (since_seq,))
    for (body,) in cursor:
        yield str(body)


def _fit(event: Event, size: int, limit: int) -> Event:
    """The event with its `data` cut (marked inside it) so that its body fits `limit` bytes.

    A source of absurd size has its strings clipped too.
    """
    source = event.source
    if json_size(source) > SOURCE_MAX_BYTES:
        source = cast(Source, {k: v[:SOURCE_MAX_BYTES // 8] if isinstance(v, str) else v
                               for k, v in source.items()})
    rest = replace(event, source=source, data={})
    budget = limit - len(render(rest).encode()) + len("{}")
    return replace(rest, data=cut_data(event.data, max(budget, 64), size))


def _count(conn: sqlite3.Connection, key: str, by: int) -> None:
    """Add to a counter row of `meta` (inside the caller's transaction)."""
    conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                 "SET value=CAST(value AS INTEGER) + excluded.value", (key, by))


def _json_ints(values: Iterable[int]) -> str:
    """A JSON array for `json_each(?)`: one statement text for any number of seqs.

    (A `?` per seq would prepare a new statement for every batch size.)
    """
    return "[" + ",".join(str(int(v)) for v in values) + "]"


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _primary_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code (extended codes carry it in the low byte)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _busy_ms(deadline: float) -> int:
    """SQLite's own busy wait for one open attempt: never past the start's deadline."""
    return max(1, min(BUSY_TIMEOUT_MS, int((deadline - time.monotonic()) * 1000)))


def _unwritable_text(path: Path, exc: BaseException) -> str:
    """Name the file, the user and the fix: a permission problem no restart can cure."""
    import pwd  # noqa: PLC0415 - only on this error path

    try:
        user = pwd.getpwuid(os.geteuid()).pw_name  # who we run as, not who $USER says
    except KeyError:
        user = f"uid {os.geteuid()}"
    where = path.parent if path.suffix else path
    return (f"outbox {path} is not writable by user {user} ({exc}); the file is left as it "
            f"is. Fix: sudo chown -R {user}: {where} && sudo chmod -R u+rwX {where} "
            "(and check that it is not immutable, `lsattr`, nor on a read-only mount)")


def _is_disk_full(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "disk is full" in text or "database or disk is full" in text or "disk i/o" in text
