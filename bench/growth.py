"""Cost growth: per-event outbox cost at 1/10/100 sensors x 1/30/365 days of history.

For each cell an outbox is created by the production code, then filled
directly with `sensors x days x --per-sensor-day` rows (the newest day
(at least 2 880 rows) pending, the rest delivered: a home that keeps its
history and has a day of backlog), and reopened with `Outbox`. Then, with the real
methods, the script times what the agent does per event and per drain
step: a single-event `append` (one fsync, as at low rates), `pending(64)`,
`mark_delivered(64)`, `stats()` and an `enforce_cap` pass, and prints
SQLite's EXPLAIN QUERY PLAN for the drain / evict / stats / prune queries,
so a scan that grows with the table shows up as `SCAN`, not as a guess.

Disk use grows to ~1.5 GB for the 100 x 365 cell (deleted afterwards);
`--max-rows` caps any cell.

    .venv/bin/python bench/growth.py [--per-sensor-day 100] [--max-rows 4000000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import emit, log

from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import ROW_OVERHEAD, Outbox

PENDING_FLOOR = 64 * 45  # enough backlog for 40+ drain steps of 64 in every cell

QUERIES = {
    "drain: pending()": "SELECT seq, id, priority, kind, type, body, created FROM events "
                        "WHERE delivered_at IS NULL AND seq NOT IN "
                        "(SELECT value FROM json_each('[1,2,3]')) "
                        "ORDER BY priority, seq LIMIT 64",
    "ack: mark_delivered()": "UPDATE events SET delivered_at=1 WHERE delivered_at IS NULL "
                             "AND seq IN (SELECT value FROM json_each('[5,6,7]'))",
    "evict: enforce_cap() batch": "SELECT seq, size FROM events WHERE delivered_at IS NULL "
                                  "AND priority=4 ORDER BY seq LIMIT 500",
    "evict: delivered bytes": "SELECT COALESCE(SUM(size), 0) FROM events "
                              "WHERE delivered_at IS NOT NULL",
    "prune: prune_delivered()": "DELETE FROM events WHERE delivered_at IS NOT NULL "
                                "AND delivered_at < 1",
    "stats: by priority": "SELECT priority, COUNT(*) FROM events WHERE delivered_at IS NULL "
                          "GROUP BY priority",
    "stats: oldest pending": "SELECT MIN(ts) FROM events WHERE delivered_at IS NULL",
    "open: stored bytes": "SELECT COALESCE(SUM(size), 0) FROM events",
    "open: delivered kept": "SELECT COUNT(*) FROM events WHERE delivered_at IS NOT NULL",
}


def fill(path: Path, rows: int, per_day: int, pending: int) -> None:
    """Rows straight into the production schema, oldest first; the newest `pending` undelivered."""
    Outbox(path, "growth-home", boot_id="gen").close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    now = time.time()
    start = now - rows / per_day * 86400
    step = 86400 / per_day
    insert = ("INSERT INTO events(seq, id, priority, kind, type, ts, clock, mono, boot_id, body, "
              "size, created, delivered_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
    conn.execute("BEGIN")
    batch: list[tuple[Any, ...]] = []
    for seq in range(1, rows + 1):
        created = start + seq * step
        ts = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        alert = seq % 500 == 0
        kind, type_, priority = ("alert", "sos", 1) if alert else ("state", "motion", 4)
        eid = str(uuid.uuid4())
        body = json.dumps({"schema": "edgeagent.event/1", "id": eid, "home": "growth-home",
                           "seq": seq, "ts": ts, "clock": "synced", "kind": kind, "type": type_,
                           "severity": "critical" if alert else "info",
                           "source": {"driver": f"pir-{seq % 100}", "device": f"pir-{seq % 100}",
                                      "room": "hall"},
                           "data": {"value": seq % 2 == 1}}, separators=(",", ":"))
        delivered = created + 0.05 if seq <= rows - pending else None
        batch.append((seq, eid, priority, kind, type_, ts, "synced", float(seq), "gen", body,
                      len(body) + ROW_OVERHEAD, created, delivered))
        if len(batch) == 20_000:
            conn.executemany(insert, batch)
            batch = []
    conn.executemany(insert, batch)
    conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (str(rows),))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def median_us(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def measure(path: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    box = Outbox(path, "growth-home", boot_id="bench", max_bytes=10**13,
                 retention=timedelta(days=400))
    open_s = time.perf_counter() - t0
    wall = datetime.now(UTC)
    draft = Draft(Kind.STATE, "motion", Severity.INFO,
                  {"driver": "pir-1", "device": "pir-1", "room": "hall"}, mono=1.0, wall=wall,
                  data={"value": True})
    cpu0 = time.process_time()
    append_us = median_us(lambda: box.append([draft], synced=True), 100)
    append_cpu_us = (time.process_time() - cpu0) / 100 * 1e6
    pending_us = median_us(lambda: box.pending(64), 50)
    batches: list[list[int]] = []
    for _ in range(20):
        seqs = [e.seq for e in box.pending(64)]
        batches.append(seqs)
        box.mark_delivered(seqs)  # consumes the backlog's head, like a drain
    mark_us = median_us(lambda: box.mark_delivered(batches.pop()), 19)
    stats_us = median_us(box.stats, 5)
    size_mb = sum(f.stat().st_size for f in path.parent.glob(path.name + "*")) / 1e6
    plans = {name: [row[3] for row in box._conn.execute("EXPLAIN QUERY PLAN " + sql)]
             for name, sql in QUERIES.items()}
    box.close()
    return {"open_s": round(open_s, 3), "append_1_event_us": round(append_us, 1),
            "append_cpu_us": round(append_cpu_us, 1), "pending_64_us": round(pending_us, 1),
            "mark_delivered_64_us": round(mark_us, 1), "stats_us": round(stats_us, 1),
            "db_mb": round(size_mb, 1), "plans": plans}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-sensor-day", type=int, default=100,
                        help="events per sensor per day (a PIR: ~50 motion starts and ends)")
    parser.add_argument("--sensors", default="1,10,100")
    parser.add_argument("--days", default="1,30,365")
    parser.add_argument("--max-rows", type=int, default=4_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    cells = []
    plans: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-growth-") as tmp:
        for sensors in (int(s) for s in args.sensors.split(",")):
            for days in (int(d) for d in args.days.split(",")):
                per_day = sensors * args.per_sensor_day
                rows = min(args.max_rows, per_day * days)
                path = Path(tmp) / f"s{sensors}-d{days}" / "outbox.db"
                path.parent.mkdir()
                t0 = time.perf_counter()
                pending = min(rows, max(per_day, PENDING_FLOOR))
                fill(path, rows, per_day, pending)
                log(f"{sensors} sensors x {days} days: {rows} rows "
                    f"(generated in {time.perf_counter() - t0:.1f} s) ...")
                fig = measure(path)
                plans = fig.pop("plans")
                cells.append({"sensors": sensors, "days": days, "rows": rows,
                              "pending_rows": pending, **fig})
                for f in path.parent.iterdir():
                    f.unlink()
    emit({
        "bench": "growth",
        "per_sensor_day": args.per_sensor_day,
        "cells": cells,
        "query_plans_largest_cell": plans,
        "note": "append is one fsync (noisy); append_cpu_us is the process's own CPU",
    })


if __name__ == "__main__":
    main()
