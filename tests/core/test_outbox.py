"""The outbox alone: numbering, order, cap, retention, clock correction, corruption."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edgeagent.doctor.outbox_reader import OutboxReader
from edgeagent.errors import OutboxLocked
from edgeagent.models import Draft, Kind, Priority, Severity
from edgeagent.outbox import Outbox
from edgeagent.outbox_salvage import EVENT_COLUMNS, salvage
from edgeagent.seq_mark import SEQ_RESERVE

T0 = datetime(2026, 11, 22, 2, 10, tzinfo=UTC)


def draft(kind: Kind = Kind.STATE, type_: str = "motion", severity: Severity = Severity.INFO,
          mono: float = 100.0, payload: int = 0) -> Draft:
    return Draft(kind=kind, type=type_, severity=severity, source={"driver": "t"},
                 mono=mono, wall=T0 + timedelta(seconds=mono), data={"pad": "x" * payload})


def alert(type_: str = "sos") -> Draft:
    return draft(Kind.ALERT, type_, Severity.CRITICAL)


def open_outbox(path: Path, **kw: object) -> Outbox:
    return Outbox(path, "home-1", boot_id="boot-a", **kw)  # type: ignore[arg-type]


def test_seq_is_gap_free_and_survives_reopen(tmp_path):
    box = open_outbox(tmp_path / "o.db")
    stored = box.append([draft(), draft()], synced=True)
    assert [e.seq for e in stored] == [1, 2]
    box.close()
    box = open_outbox(tmp_path / "o.db")
    assert [e.seq for e in box.append([draft()], synced=True)] == [3]


def test_drain_order_is_priority_then_seq(tmp_path):
    box = open_outbox(tmp_path / "o.db")
    box.append([draft(), draft(Kind.READING, "heart_rate"), alert("inactivity"),
                draft(Kind.ALERT, "low_battery", Severity.WARNING), alert("sos")], synced=True)
    order = [(e.priority, e.seq) for e in box.pending(10)]
    assert order == [(1, 3), (1, 5), (2, 4), (3, 2), (4, 1)]
    assert [e.seq for e in box.pending(10, skip={3, 5})] == [4, 2, 1]


def test_delivered_only_when_marked(tmp_path):
    box = open_outbox(tmp_path / "o.db")
    box.append([draft(), draft()], synced=True)
    box.mark_delivered([2])
    assert [e.seq for e in box.pending(10)] == [1]
    stats = box.stats()
    assert stats.pending == 1 and stats.last_delivered_seq == 2 and stats.delivered_kept == 1


def test_cap_evicts_raw_then_readings_never_alerts(tmp_path):
    box = open_outbox(tmp_path / "o.db", max_bytes=60_000)
    box.append([alert() for _ in range(20)], synced=True)
    box.append([draft(Kind.READING, "spo2", payload=400) for _ in range(40)], synced=True)
    box.append([draft(payload=400) for _ in range(100)], synced=True)
    stats = box.stats()
    assert stats.stored_bytes <= 60_000
    assert stats.pending_by_priority[int(Priority.CRITICAL_ALERT)] == 20
    assert stats.evicted.get("raw_state", 0) > 0
    # Raw states go first: as long as some raw states remain, no reading was dropped.
    if stats.pending_by_priority.get(int(Priority.RAW_STATE), 0) > 0:
        assert stats.evicted.get("vital_or_summary", 0) == 0
    # Oldest go first: the newest raw state survives.
    assert max(e.seq for e in box.pending(1000)) == 160


def test_cap_never_drops_alerts_even_when_only_alerts_remain(tmp_path):
    box = open_outbox(tmp_path / "o.db", max_bytes=5_000)
    box.append([alert() for _ in range(100)], synced=True)
    assert box.stats().pending == 100


def test_retention_prunes_only_old_delivered_rows(tmp_path):
    box = open_outbox(tmp_path / "o.db", retention=timedelta(hours=1))
    box.append([draft(), draft(), draft()], synced=True)
    box.mark_delivered([1], when=1000.0)
    box.mark_delivered([2], when=10_000.0)
    assert box.prune_delivered(now=1000.0 + 3601) == 1
    assert box.stats().delivered_kept == 1 and box.stats().pending == 1


def test_clock_correction_rewrites_unsynced_events_of_this_boot(tmp_path):
    box = open_outbox(tmp_path / "o.db")
    box.append([draft(mono=100.0)], synced=False)
    box.append([draft(mono=160.0)], synced=False)
    now_wall = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert box.correct_clock(mono_now=200.0, wall_now=now_wall) == 2
    bodies = [e.body for e in box.pending(10)]
    assert '"clock":"corrected"' in bodies[0]
    assert '"ts":"2026-11-22T11:58:20.000Z"' in bodies[0]  # 100 s before mono 200
    assert '"ts":"2026-11-22T11:59:20.000Z"' in bodies[1]


def test_clock_correction_leaves_other_boots_alone(tmp_path):
    box = open_outbox(tmp_path / "o.db")
    box.append([draft()], synced=False)
    box.close()
    other = Outbox(tmp_path / "o.db", "home-1", boot_id="boot-b")
    assert other.correct_clock(200.0, datetime.now(UTC)) == 0
    assert '"clock":"unsynced"' in other.pending(1)[0].body


def test_corrupt_file_is_moved_aside_and_seq_continues(tmp_path, caplog):
    path = tmp_path / "o.db"
    box = open_outbox(path)
    box.append([draft() for _ in range(5)], synced=True)
    box.close()
    with path.open("r+b") as fh:  # trash the b-tree pages, keep the header readable
        fh.seek(4096)
        fh.write(b"\xde\xad" * 4096)
    box = open_outbox(path)
    assert box.recovered_from is not None and Path(box.recovered_from).exists()
    assert "corrupt" in caplog.text
    assert box.stats().recovered_from == box.recovered_from
    new = box.append([draft()], synced=True)
    assert new[0].seq in (1, 6)  # 6 when the meta page survived, else a fresh start


def test_garbage_file_is_moved_aside(tmp_path):
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database" * 100)
    box = open_outbox(path)
    assert box.recovered_from is not None
    assert box.append([draft()], synced=True)[0].seq == 1


def test_disk_full_raises_outbox_full_and_keeps_stored_rows(tmp_path):
    import resource

    from edgeagent.errors import OutboxFull

    box = open_outbox(tmp_path / "o.db")
    box.append([draft()], synced=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    import signal

    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    size = (tmp_path / "o.db-wal").stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 8192, hard))
    try:
        with pytest.raises(OutboxFull):
            for _ in range(200):
                box.append([draft(payload=4000) for _ in range(10)], synced=True)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert box.full
    assert box.pending(1)[0].seq == 1
    box.append([draft()], synced=True)
    assert not box.full
    conn = sqlite3.connect(tmp_path / "o.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_corrupt_events_page_keeps_seq_from_meta(tmp_path):
    """Salvage reads `last_seq` from the corrupt file so the platform sees no reset."""
    path = tmp_path / "o.db"
    box = open_outbox(path)
    box.append([draft() for _ in range(5)], synced=True)
    box.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    saved = salvage(path)
    assert saved.last_seq == 5 and saved.high_seq == 5
    assert [row[0] for row in saved.events] == [1, 2, 3, 4, 5]


def test_appends_stay_fully_synchronous_after_delivery_marks(tmp_path):
    """Marks commit with synchronous=NORMAL; every append must still be FULL (2)."""
    box = open_outbox(tmp_path / "o.db")
    box.append([draft()], synced=True)
    box.mark_delivered([1])
    assert box._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    box.append([draft()], synced=True)
    assert box.stats().last_delivered_seq == 1 and box.stats().pending == 1


def test_pending_skips_a_window_larger_than_the_limit_and_marks_accept_any_batch(tmp_path):
    box = open_outbox(tmp_path / "o.db")
    box.append([draft(mono=float(i)) for i in range(1000)], synced=True)
    in_flight = set(range(1, 601))
    assert [e.seq for e in box.pending(5, skip=in_flight)] == [601, 602, 603, 604, 605]
    box.mark_delivered([*sorted(in_flight), 3, 3])  # a big batch, duplicates tolerated
    assert box.stats().pending == 400
    assert box.stats().last_delivered_seq == 600
    assert [e.seq for e in box.pending(3)] == [601, 602, 603]
    box.mark_delivered([600, 601])  # 600 again: already delivered, its stamp is kept
    assert box.stats().pending == 399


def test_delivered_count_in_stats_follows_marks_prunes_cap_and_reopen(tmp_path):
    def counted(box: Outbox) -> int:
        return box._conn.execute(
            "SELECT COUNT(*) FROM events WHERE delivered_at IS NOT NULL").fetchone()[0]

    box = open_outbox(tmp_path / "o.db")
    box.append([draft(mono=float(i)) for i in range(50)], synced=True)
    box.mark_delivered(list(range(1, 21)), when=1000.0)
    box.mark_delivered(list(range(15, 31)), when=5000.0)  # 15-20 again: not counted twice
    assert box.stats().delivered_kept == counted(box) == 30
    assert box.prune_delivered(now=1000.0 + box.retention.total_seconds() + 1) == 20
    assert box.stats().delivered_kept == counted(box) == 10
    box.close()
    box = open_outbox(tmp_path / "o.db", max_bytes=1)  # reopen: counted again; then the cap
    assert box.stats().delivered_kept == 10
    box.append([alert()], synced=True)  # over the cap: delivered history goes first
    assert box.stats().delivered_kept == counted(box) == 0


def test_an_outbox_created_by_earlier_versions_opens_and_gets_missing_indexes(tmp_path):
    # Exactly the DDL sqlite-utils produced for the first versions, and no indexes
    # (as a start torn between statements could leave it).
    conn = sqlite3.connect(tmp_path / "o.db")
    conn.executescript("""
        CREATE TABLE "events" (
           "seq" INTEGER PRIMARY KEY, "id" TEXT, "priority" INTEGER, "kind" TEXT,
           "type" TEXT, "ts" TEXT, "clock" TEXT, "mono" FLOAT, "boot_id" TEXT,
           "body" TEXT, "size" INTEGER, "created" FLOAT, "delivered_at" FLOAT);
        CREATE TABLE "meta" ("key" TEXT PRIMARY KEY, "value" TEXT);
        INSERT INTO meta VALUES ('last_seq', '41');
        INSERT INTO events(seq, id, priority, kind, type, body, size, created)
            VALUES (41, 'x', 4, 'state', 'motion', '{}', 98, 0);
    """)
    conn.commit()
    conn.close()
    box = open_outbox(tmp_path / "o.db")
    assert [e.seq for e in box.append([draft()], synced=True)] == [42]
    assert [e.seq for e in box.pending(5)] == [41, 42]
    indexes = {r[0] for r in box._conn.execute(
        "SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"pending_order", "delivered_age", "unsynced"} <= indexes


@pytest.mark.parametrize("sizes", [[1, 2, 3], [63, 64, 65], [127, 128, 129, 200]])
def test_batches_of_any_size_are_stored_whole_in_order(tmp_path, sizes):
    # Rows go in by multi-row statements of 64, 32, ... 1 rows: every split must
    # store each event once, in order, with the body that was returned.
    box = open_outbox(tmp_path / "o.db")
    returned = []
    for n in sizes:
        returned += box.append([draft(mono=float(i)) for i in range(n)], synced=True)
    rows = box._conn.execute("SELECT seq, id, body, mono FROM events ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == list(range(1, sum(sizes) + 1)) == [e.seq for e in returned]
    assert [(r[1], r[2]) for r in rows] == [(e.id, e.body) for e in returned]
    assert [r[3] for r in rows] == [float(i) for n in sizes for i in range(n)]
    assert box.last_seq == sum(sizes)


def test_a_batch_that_fails_half_way_through_its_statements_stores_none_of_it(tmp_path):
    box = open_outbox(tmp_path / "o.db")
    box.append([draft()], synced=True)
    # A row in the way of the batch's second statement (rows 65-96 of 100).
    box._conn.execute("INSERT INTO events(seq, priority, body, size) VALUES (71, 4, '{}', 98)")
    with pytest.raises(sqlite3.IntegrityError):
        box.append([draft(mono=float(i)) for i in range(100)], synced=True)
    assert box._conn.execute("SELECT seq FROM events ORDER BY seq").fetchall() == [(1,), (71,)]
    assert box.last_seq == 1
    assert box._meta("last_seq") == "1"


def zero_page_holding(path: Path, needle: bytes) -> int:
    """Overwrite the b-tree page that holds `needle` with zeros; return the page number."""
    data = path.read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    offset = data.index(needle)
    page = offset // page_size
    with path.open("r+b") as fh:
        fh.seek(page * page_size)
        fh.write(b"\0" * page_size)
    return page


def test_a_corrupt_page_costs_only_its_rows_the_rest_is_reimported(tmp_path, caplog):
    path = tmp_path / "o.db"
    box = open_outbox(path)
    alerts = box.append([alert() for _ in range(3)], synced=True)
    readings = box.append([draft(Kind.READING, "heart_rate", mono=float(i), payload=200)
                           for i in range(120)], synced=True)
    box.mark_delivered([1])  # delivered: the platform has it, not re-imported
    box.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    victim = readings[60]
    zero_page_holding(path, victim.id.encode())
    box = open_outbox(path)
    assert box.recovered_from is not None and Path(box.recovered_from).exists()
    lost = set(range(1, 124)) - {e.seq for e in box.pending(1000)} - {1}
    assert victim.seq in lost and 0 < len(lost) < 40
    by_seq = {e.seq: e for e in box.pending(1000)}
    for event in [*alerts[1:], *readings]:
        if event.seq not in lost:  # seq, id and body exactly as they were
            assert by_seq[event.seq].id == event.id and by_seq[event.seq].body == event.body
    assert box.stats().salvage == {"from": box.recovered_from,
                                   "at": box.stats().salvage["at"],  # type: ignore[index]
                                   "salvaged": 122 - len(lost), "unsalvaged": len(lost)}
    assert box.append([draft()], synced=True)[0].seq == 124  # seq carries on
    box.close()
    assert open_outbox(path).stats().salvage["unsalvaged"] == len(lost)  # type: ignore[index]
    with OutboxReader(path) as reader:  # `edgeagent outbox stats`, no daemon needed
        stats = reader.stats()
    assert stats["salvage"]["unsalvaged"] == len(lost) and stats["salvage"]["salvaged"] == 122 - len(lost)
    assert stats["high_water_seq"] == 124 + SEQ_RESERVE


def test_salvage_reads_the_columns_the_outbox_writes():
    from edgeagent import outbox

    assert outbox._EVENT_COLUMNS == EVENT_COLUMNS


def test_a_locked_outbox_is_waited_for_then_refused_never_moved_aside(tmp_path):
    path = tmp_path / "o.db"
    box = open_outbox(path)
    box.append([alert()], synced=True)
    box.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OutboxLocked, match="locked by another process"):
            open_outbox(path, lock_wait=0.3)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sorted(p.name for p in tmp_path.iterdir() if "corrupt" in p.name) == []
    assert open_outbox(path).stats().pending == 1
