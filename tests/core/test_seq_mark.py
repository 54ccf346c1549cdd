"""The seq high-water mark: reserved before use, kept beside the outbox, read back on start."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from edgeagent.clock import ManualClock
from edgeagent.config import parse_config
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox
from edgeagent.outbox_continuity import OutboxFileWatch, continue_seq
from edgeagent.seq_mark import (
    SEQ_RESERVE,
    SeqMark,
    lost_range,
    mark_path,
    read_mark,
    remote_mark,
    write_mark,
)

T0 = datetime(2026, 11, 22, 2, 10, tzinfo=UTC)


def draft() -> Draft:
    return Draft(kind=Kind.STATE, type="motion", severity=Severity.INFO, source={"driver": "t"},
                 mono=1.0, wall=T0, data={})


def open_outbox(path: Path) -> Outbox:
    return Outbox(path, "home-1", boot_id="b")


def test_a_block_of_seqs_is_recorded_before_the_first_of_it_is_used(tmp_path):
    box = open_outbox(tmp_path / "o.db")
    assert read_mark(mark_path(box.path)) == SeqMark(SEQ_RESERVE, 0, 0)
    box.append([draft() for _ in range(SEQ_RESERVE)], synced=True)
    assert read_mark(mark_path(box.path)).high_water_seq == SEQ_RESERVE  # type: ignore[union-attr]
    box.append([draft()], synced=True)  # seq 1001: a new block, written first
    assert read_mark(mark_path(box.path)) == SeqMark(1001 + SEQ_RESERVE, 1000, 0)
    box.mark_delivered([1, 2, 3])
    box.close()  # a clean stop records the exact figures
    assert read_mark(mark_path(box.path)) == SeqMark(1001 + SEQ_RESERVE, 1001, 3)


def test_mark_is_replaced_atomically_and_recreates_its_directory(tmp_path):
    path = tmp_path / "gone" / "o.db.seq"
    write_mark(path, SeqMark(5, 4, 3))
    assert read_mark(path) == SeqMark(5, 4, 3)
    assert [p.name for p in path.parent.iterdir()] == ["o.db.seq"]  # no temporary left
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text("{not json")
    assert read_mark(path) is None


def test_lost_range_only_for_a_new_or_older_outbox():
    mark = SeqMark(1017, 17, 12)
    assert lost_range(fresh=False, last_seq=17, last_acked_seq=12, marks=[mark]) is None
    assert lost_range(fresh=True, last_seq=0, last_acked_seq=0, marks=[None, None]) is None
    assert lost_range(fresh=True, last_seq=0, last_acked_seq=0, marks=[mark, None]) == (13, 1017)
    assert lost_range(fresh=False, last_seq=9, last_acked_seq=5, marks=[mark]) == (13, 1017)
    broker = SeqMark(2017, 1100, 1090)
    assert lost_range(fresh=True, last_seq=0, last_acked_seq=0, marks=[mark, broker]) == \
        (1091, 2017)


def test_remote_mark_from_a_retained_status_or_a_will():
    assert remote_mark({"high_water_seq": 40, "last_acked_seq": 30,
                        "outbox": {"last_seq": 35}}) == SeqMark(40, 35, 30)
    assert remote_mark({"state": "offline", "high_water_seq": 1000}) == SeqMark(1000, 0, 0)
    assert remote_mark({"state": "offline"}) is None
    assert remote_mark({"high_water_seq": "x"}) is None
    assert remote_mark(None) is None


async def test_new_outbox_continues_above_the_mark_and_says_what_may_be_missing(tmp_path):
    path = tmp_path / "data" / "o.db"
    box = open_outbox(path)
    box.append([draft() for _ in range(17)], synced=True)
    box.mark_delivered(list(range(1, 13)))
    box.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    fresh = open_outbox(path)
    assert fresh.fresh
    config = parse_config({"mqtt": {"urls": ["mqtt://127.0.0.1:1"]}})  # nobody listens
    lost = await continue_seq(fresh, config.mqtt, "home-1", ManualClock(T0),
                              readback_timeout=0.5)
    assert lost is not None and lost.type == "outbox_lost" and lost.kind == Kind.STATUS
    assert lost.data["from_seq"] == 13 and lost.data["to_seq"] == SEQ_RESERVE  # the block
    assert lost.data["last_known_seq"] == 17
    assert fresh.append([draft()], synced=True)[0].seq == SEQ_RESERVE + 1
    fresh.close()
    again = open_outbox(path)  # once continued, a restart is an ordinary one
    assert await continue_seq(again, config.mqtt, "home-1", ManualClock(T0),
                              readback_timeout=0.5) is None


def test_a_deleted_outbox_file_is_noticed_and_the_mark_written_back(tmp_path, caplog):
    path = tmp_path / "data" / "o.db"
    box = open_outbox(path)
    box.append([draft() for _ in range(5)], synced=True)
    watch = OutboxFileWatch(box)
    watch.check()
    assert watch.problem is None
    for child in path.parent.iterdir():
        child.unlink()
    os.rmdir(path.parent)
    watch.check()
    assert watch.problem is not None and "was deleted while the agent runs" in watch.problem
    assert "was deleted while the agent runs" in caplog.text
    assert read_mark(mark_path(path)) == SeqMark(SEQ_RESERVE, 5, 0)  # back on disk
    box.append([draft()], synced=True)  # the agent runs on
    box.close()


def test_a_mark_that_cannot_be_written_is_logged_and_the_outbox_works_on(tmp_path, caplog):
    path = tmp_path / "o.db"
    mark_path(path).mkdir()  # os.replace onto a directory fails, as a full disk would
    box = open_outbox(path)
    assert "cannot record the seq high-water mark" in caplog.text
    assert [e.seq for e in box.append([draft(), draft()], synced=True)] == [1, 2]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary
    box.close()
