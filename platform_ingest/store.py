"""Where the platform keeps events: SQLite (embedded default) or PostgreSQL.

One SQL text serves both (`?` placeholders become `%s` for psycopg). Events are
keyed by their `id`, so a duplicate (QoS 1 redelivery, a `resend`) is a no-op;
`(home, seq)` is indexed for the watermark. Every write is one transaction per
batch; the MQTT PUBACK is sent only after it commits.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

DDL = (
    "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, home TEXT NOT NULL, "
    "seq BIGINT NOT NULL, kind TEXT, type TEXT, severity TEXT, ts TEXT, alert_id TEXT, "
    "alert_state TEXT, body TEXT, received_at DOUBLE PRECISION, resent INTEGER)",
    "CREATE INDEX IF NOT EXISTS events_home_seq ON events (home, seq)",
    "CREATE TABLE IF NOT EXISTS homes (home TEXT PRIMARY KEY, online INTEGER, status TEXT, "
    "status_at DOUBLE PRECISION, watermark BIGINT NOT NULL DEFAULT 0, known_last_seq BIGINT "
    "NOT NULL DEFAULT 0, probed_at DOUBLE PRECISION NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS gaps (home TEXT NOT NULL, from_seq BIGINT NOT NULL, "
    "to_seq BIGINT NOT NULL, opened_at DOUBLE PRECISION, attempts INTEGER NOT NULL DEFAULT 0, "
    "next_ask_at DOUBLE PRECISION, PRIMARY KEY (home, from_seq))",
    "CREATE TABLE IF NOT EXISTS lost (home TEXT NOT NULL, from_seq BIGINT NOT NULL, "
    "to_seq BIGINT NOT NULL, at DOUBLE PRECISION, PRIMARY KEY (home, from_seq, to_seq))",
    "CREATE TABLE IF NOT EXISTS repairs (home TEXT NOT NULL, from_seq BIGINT, to_seq BIGINT, "
    "opened_at DOUBLE PRECISION, closed_at DOUBLE PRECISION, asks INTEGER)",
    "CREATE TABLE IF NOT EXISTS quarantine (received_at DOUBLE PRECISION, topic TEXT, "
    "reason TEXT, payload TEXT)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lease (name TEXT PRIMARY KEY, holder TEXT, "
    "until DOUBLE PRECISION)",
)
EVENT_COLUMNS = ("id", "home", "seq", "kind", "type", "severity", "ts", "alert_id",
                 "alert_state", "body", "received_at", "resent")
Row = tuple[Any, ...]
_SQLITE_INSERT = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "  # noqa: S608
                  f"({', '.join('?' * len(EVENT_COLUMNS))}) ON CONFLICT DO NOTHING")
_PG_TYPES = ("text", "text", "bigint", "text", "text", "text", "text", "text", "text", "text",
             "float8", "int")
_PG_INSERT = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT * FROM unnest("  # noqa: S608
              + ", ".join(f"%b::{t}[]" for t in _PG_TYPES) + ") ON CONFLICT DO NOTHING")


class StoreError(Exception):
    """The database URL is not usable (scheme, missing driver)."""


class Store:
    """A connection and the platform's queries. One per worker thread or process."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = urlparse(url)
        self.dialect = "postgresql" if parsed.scheme in ("postgresql", "postgres") else "sqlite"
        if self.dialect == "sqlite":
            if parsed.scheme not in ("sqlite", ""):
                raise StoreError(f"database URL {url!r}: use sqlite:///path or "
                                 "postgresql://...")
            path = parsed.path if parsed.scheme else url
            self._conn: Any = sqlite3.connect(path, isolation_level=None,
                                              check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        else:
            try:
                import psycopg  # noqa: PLC0415 - optional extra `[postgresql]`
            except ImportError as exc:
                raise StoreError("PostgreSQL needs psycopg: pip install "
                                 "'edgeagent[postgresql]'") from exc
            self._conn = psycopg.connect(url, autocommit=True)
        with self.transaction() as cur:
            if self.dialect == "postgresql":
                # Workers started together would race on CREATE TABLE IF NOT EXISTS
                # (PostgreSQL checks the catalog before it locks): one at a time.
                cur.execute("SELECT pg_advisory_xact_lock(4242001)")
            for statement in DDL:
                cur.execute(statement)
            cur.execute(self._sql("INSERT INTO lease (name, holder, until) VALUES (?, '', 0) "
                                  "ON CONFLICT (name) DO NOTHING"), ("tracker",))

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.dialect == "postgresql" else text

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction: committed on success, rolled back on error."""
        if self.dialect == "sqlite":
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        else:
            with self._conn.transaction(), self._conn.cursor() as cur:
                yield cur

    def query(self, text: str, args: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.cursor()
        try:
            cur.execute(self._sql(text), tuple(args))
            return [tuple(row) for row in cur.fetchall()]
        finally:
            cur.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    # -- ingest ---------------------------------------------------------------------------

    def store_batch(self, events: list[Row], invalid: list[Row], counters: dict[str, int],
                    *, worker: str = "", new_homes: Sequence[str] = ()) -> int:
        """Insert events (duplicates by id ignored), homes not seen before and quarantined
        messages in one transaction; return how many events were new.

        No row every worker writes is touched here (counters are per worker): concurrent
        batches of several workers never wait for each other's locks.
        """
        inserted = 0
        with self.transaction() as cur:
            if new_homes:
                cur.executemany(self._sql("INSERT INTO homes (home, watermark) VALUES (?, 0) "
                                          "ON CONFLICT (home) DO NOTHING"),
                                [(home,) for home in sorted(new_homes)])
            if events:
                inserted = self._insert_events(cur, events)
            if invalid:
                cur.executemany(self._sql("INSERT INTO quarantine (received_at, topic, reason, "
                                          "payload) VALUES (?, ?, ?, ?)"), invalid)
            counters = dict(counters, duplicates=counters.get("duplicates", 0)
                            + len(events) - inserted, stored=inserted)
            cur.executemany(self._sql(
                "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                "SET value = counters.value + excluded.value"),
                [(f"{k}@{worker}", v) for k, v in sorted(counters.items()) if v])
        return inserted

    def _insert_events(self, cur: Any, events: list[Row]) -> int:
        """Insert, skipping ids already stored; the number actually inserted."""
        if self.dialect == "sqlite":
            before = self._conn.total_changes
            cur.executemany(_SQLITE_INSERT, events)
            return int(self._conn.total_changes - before)
        # One statement per batch (arrays unnested server-side): exact rowcount, and a
        # fraction of executemany's round trips.
        columns = [list(column) for column in zip(*events, strict=True)]
        cur.execute(_PG_INSERT, columns)
        return int(cur.rowcount)

    def set_status(self, home: str, online: bool, status: str, at: float) -> None:
        with self.transaction() as cur:
            cur.execute(self._sql(
                "INSERT INTO homes (home, online, status, status_at, watermark) "
                "VALUES (?, ?, ?, ?, 0) ON CONFLICT (home) DO UPDATE SET online = "
                "excluded.online, status = excluded.status, status_at = excluded.status_at"),
                (home, int(online), status, at))

    def saw_last_seq(self, home: str, last_seq: int) -> None:
        """The agent said (status or reply) it has stored up to `last_seq`."""
        with self.transaction() as cur:
            cur.execute(self._sql(
                "INSERT INTO homes (home, watermark, known_last_seq) VALUES (?, 0, ?) "
                "ON CONFLICT (home) DO UPDATE SET known_last_seq = CASE WHEN "
                "homes.known_last_seq < excluded.known_last_seq THEN excluded.known_last_seq "
                "ELSE homes.known_last_seq END"), (home, last_seq))

    def probed(self, home: str, at: float) -> None:
        with self.transaction() as cur:
            cur.execute(self._sql("UPDATE homes SET probed_at = ? WHERE home = ?"), (at, home))

    def add_lost(self, home: str, ranges: list[tuple[int, int]], at: float) -> None:
        with self.transaction() as cur:
            cur.executemany(self._sql("INSERT INTO lost (home, from_seq, to_seq, at) VALUES "
                                      "(?, ?, ?, ?) ON CONFLICT DO NOTHING"),
                            [(home, low, high, at) for low, high in ranges])

    # -- the tracker (one worker at a time holds the lease) ------------------------------

    def take_lease(self, holder: str, now: float, hold_s: float) -> bool:
        with self.transaction() as cur:
            cur.execute(self._sql("UPDATE lease SET holder = ?, until = ? WHERE name = "
                                  "'tracker' AND (holder = ? OR until < ?)"),
                        (holder, now + hold_s, holder, now))
            return bool(cur.rowcount == 1)

    def homes(self) -> list[Row]:
        """(home, watermark, known_last_seq, last_event_at, probed_at, online) per home;
        last_event_at is when the event with the highest seq was received."""
        return self.query("SELECT home, watermark, known_last_seq, (SELECT received_at FROM "
                          "events e WHERE e.home = homes.home ORDER BY seq DESC LIMIT 1), "
                          "probed_at, online FROM homes ORDER BY home")

    def seqs_above(self, home: str, watermark: int) -> list[int]:
        return [int(r[0]) for r in self.query(
            "SELECT seq FROM events WHERE home = ? AND seq > ? ORDER BY seq", (home, watermark))]

    def max_seq(self, home: str) -> int:
        rows = self.query("SELECT MAX(seq) FROM events WHERE home = ?", (home,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def lost_ranges(self, home: str) -> list[tuple[int, int]]:
        return [(int(a), int(b)) for a, b in self.query(
            "SELECT from_seq, to_seq FROM lost WHERE home = ? ORDER BY from_seq", (home,))]

    def gap_rows(self, home: str) -> list[Row]:
        """(from_seq, to_seq, opened_at, attempts, next_ask_at) of the home's open gaps."""
        return self.query("SELECT from_seq, to_seq, opened_at, attempts, next_ask_at FROM gaps "
                          "WHERE home = ? ORDER BY from_seq", (home,))

    def save_tracking(self, home: str, watermark: int, gaps: list[Row],
                      repaired: list[Row]) -> None:
        """Replace the home's gap rows and record repaired ones, in one transaction."""
        with self.transaction() as cur:
            cur.execute(self._sql("UPDATE homes SET watermark = ? WHERE home = ?"),
                        (watermark, home))
            cur.execute(self._sql("DELETE FROM gaps WHERE home = ?"), (home,))
            cur.executemany(self._sql("INSERT INTO gaps (home, from_seq, to_seq, opened_at, "
                                      "attempts, next_ask_at) VALUES (?, ?, ?, ?, ?, ?)"),
                            [(home, *gap) for gap in gaps])
            cur.executemany(self._sql("INSERT INTO repairs (home, from_seq, to_seq, opened_at, "
                                      "closed_at, asks) VALUES (?, ?, ?, ?, ?, ?)"),
                            [(home, *r) for r in repaired])
