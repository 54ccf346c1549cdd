"""Outbox append rate with the production durability settings, beside plain sqlite3.

Both sides use the same file system, the same pragmas (WAL, synchronous=FULL),
the same table and indexes (copied from a fresh outbox) and the same rows;
the plain side inserts pre-rendered rows with `executemany` and commits,
nothing else. The outbox side does what the agent does: number, UUIDv7,
render the JSON body, insert, bump the `last_seq` counter, commit.

A second baseline is printed beside the first: plain inserts of the same
rows, one multi-row `VALUES` statement per transaction (`plain_multirow_*`),
the cheapest way SQLite takes them.

Two shapes: one event per transaction (an SOS press on a quiet home: every
commit is an fsync) and batches of `--batch` events per transaction (what
the supervisor does with everything raised in one loop iteration).

The disk is shared with other jobs, so the sides are interleaved for
`--rounds` rounds and the best of each is reported beside every sample.
Each draft has its own wall time (a millisecond apart), so no per-batch
shortcut on identical timestamps flatters the outbox.

    .venv/bin/python bench/outbox_write.py [--events 2000] [--batch 100] [--rounds 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import emit, log

from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox

CPU_US: dict[str, list[float]] = {}


def drafts(n: int) -> list[Draft]:
    wall = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    return [Draft(Kind.STATE, "motion", Severity.INFO,
                  {"driver": "pir-hall", "device": "pir-hall", "room": "hall"},
                  mono=float(i), wall=wall + timedelta(milliseconds=i),
                  data={"value": i % 2 == 1, "n": i})
            for i in range(n)]


COLUMNS = "seq, id, priority, kind, type, ts, clock, mono, boot_id, body, size, created"
INSERT = f"INSERT INTO events({COLUMNS}) VALUES "
ONE_ROW = "(?,?,?,?,?,?,?,?,?,?,?,?)"


def stored_rows(conn: sqlite3.Connection) -> list[tuple]:
    """The rows an outbox stored, in the order the plain side inserts them."""
    return conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY seq").fetchall()


def events_schema(conn: sqlite3.Connection) -> list[str]:
    """The outbox's own `events` table and indexes, for the plain side."""
    return [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name='events' AND sql IS NOT NULL")]


def plain_connection(path: Path, ddl: list[str], synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=5000")
    for sql in ddl:
        conn.execute(sql)
    return conn


def insert_plain(conn: sqlite3.Connection, rows: list[tuple], batch: int,
                 *, multirow: bool) -> None:
    """Plain inserts, `batch` rows per transaction: `executemany`, or one multi-row statement."""
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        conn.execute("BEGIN IMMEDIATE")
        if multirow:
            conn.execute(INSERT + ",".join([ONE_ROW] * len(chunk)),
                         tuple(itertools.chain.from_iterable(chunk)))
        else:
            conn.executemany(INSERT + ONE_ROW, chunk)
        conn.execute("COMMIT")


def outbox_rate(path: Path, items: list[Draft], batch: int) -> tuple[float, list[tuple]]:
    box = Outbox(path, "bench-home", boot_id="b", max_bytes=10**12)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(items), batch):
        box.append(items[i:i + batch], synced=True)
    elapsed = time.perf_counter() - start
    CPU_US["outbox"].append((time.process_time() - cpu) / len(items) * 1e6)
    rows = stored_rows(box._conn)
    box.close()
    return len(items) / elapsed, rows


def plain_rate(path: Path, schema_from: Path, rows: list[tuple], batch: int,
               *, multirow: bool = False) -> float:
    src = sqlite3.connect(schema_from)
    ddl = events_schema(src)
    src.close()
    conn = plain_connection(path, ddl, "FULL")
    start, cpu = time.perf_counter(), time.process_time()
    insert_plain(conn, rows, batch, multirow=multirow)
    elapsed = time.perf_counter() - start
    CPU_US["plain_multirow" if multirow else "plain"].append(
        (time.process_time() - cpu) / len(rows) * 1e6)
    conn.close()
    return len(rows) / elapsed


def measure(workdir: Path, n: int, batch: int, tag: str, rounds: int) -> dict[str, object]:
    items = drafts(n)
    sides = ("outbox", "plain", "plain_multirow")
    samples: dict[str, list[float]] = {side: [] for side in sides}
    CPU_US.clear()
    CPU_US.update({side: [] for side in sides})
    for r in range(rounds):
        box_rate, rows = outbox_rate(workdir / f"outbox-{tag}-{r}.db", items, batch)
        samples["outbox"].append(box_rate)
        schema = workdir / f"outbox-{tag}-{r}.db"
        samples["plain"].append(plain_rate(workdir / f"plain-{tag}-{r}.db", schema, rows, batch))
        if batch > 1:
            samples["plain_multirow"].append(plain_rate(
                workdir / f"multi-{tag}-{r}.db", schema, rows, batch, multirow=True))
        for f in workdir.glob(f"*-{tag}-{r}.db*"):
            f.unlink()
    best = {k: max(v) for k, v in samples.items() if v}
    out: dict[str, object] = {
        "events": n, "batch": batch, "outbox_events_per_s": round(best["outbox"], 1),
        "plain_sqlite_events_per_s": round(best["plain"], 1),
        "ratio": round(best["outbox"] / best["plain"], 3),
        "median_ratio": round(statistics.median(
            o / p for o, p in zip(samples["outbox"], samples["plain"], strict=True)), 3),
        "cpu_us_per_event_min": {k: round(min(v), 1) for k, v in CPU_US.items() if v},
        "samples": {k: [round(x, 1) for x in v] for k, v in samples.items() if v}}
    if "plain_multirow" in best:
        out["plain_multirow_events_per_s"] = round(best["plain_multirow"], 1)
        out["ratio_to_multirow"] = round(best["outbox"] / best["plain_multirow"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per single-commit run")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the databases go (default: a temp dir on /tmp's disk)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-outbox-") as tmp:
        workdir = Path(tmp)
        log("single-event transactions ...")
        single = measure(workdir, args.events, 1, "single", args.rounds)
        log("batched transactions ...")
        batched = measure(workdir, args.events * 10, args.batch, "batched", args.rounds)
    emit({
        "bench": "outbox_write",
        "pragmas": {"journal_mode": "wal", "synchronous": "FULL"},
        "single_event_transactions": single,
        "batched_transactions": batched,
        "compared_with": "plain sqlite3 executemany of the same pre-rendered rows; "
                         "ratio_to_multirow: one multi-row INSERT per transaction",
    })


if __name__ == "__main__":
    main()
