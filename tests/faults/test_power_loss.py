"""Power loss: freeze the agent mid-write, copy what is on disk, and open the copy.

SIGSTOP lands between two system calls of a busy agent (inside SQLite
commits often: it commits hundreds of times a second here), so the copied
database + WAL are exactly what a power cut at that instant would leave if
the page cache had reached the disk. A second copy has its WAL cut at a
random byte, like a write torn by the power cut. Every copy must pass
`PRAGMA integrity_check`, number its events 1..last_seq without a hole, and
open as a normal outbox (no "corrupt, moved aside").
"""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
import struct
import time
from pathlib import Path

import pytest

from edgeagent.outbox import Outbox
from tests.conftest import write_config
from tests.faults.harness import integrity
from tests.faults.kill_trials import _Agent, _last_seq
from tests.faults.zygote import Zygote
from tests.support.waiting import wait_until

STOPS = 40


def check_copy(db: Path) -> int:
    """integrity ok, seq 1..last_seq complete, opens cleanly; returns last_seq."""
    assert integrity(db) == "ok", db
    conn = sqlite3.connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            # A WAL cut inside the first start's schema creation (one statement per
            # transaction there): no event can exist yet, and the outbox must still open.
            if "events" in tables:
                assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
            conn.close()
            Outbox(db, "home-1", boot_id="check").close()
            return 0
        last = int(conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
        count, high = conn.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM events").fetchone()
    finally:
        conn.close()  # closing twice is harmless
    assert (count, high) == (last, last), f"{db}: {count} rows, max seq {high}, meta {last}"
    outbox = Outbox(db, "home-1", boot_id="check")
    try:
        assert outbox.recovered_from is None
        assert outbox.last_seq == last
    finally:
        outbox.close()
    return last


def backfilled_bytes(db: Path, page_size: int = 4096) -> int:
    """WAL bytes a checkpoint has copied (or started copying) into the main file.

    SQLite syncs the WAL before it checkpoints, so a power cut can tear only frames
    after these; cutting into them would model a fault disks do not have (and
    corrupt the copy for that reason alone). Read from the frozen agent's -shm:
    WalCkptInfo at offset 96 holds nBackfill, and nBackfillAttempted at 128.
    """
    shm = Path(f"{db}-shm")
    if not shm.exists() or shm.stat().st_size < 132:
        return 32
    raw = shm.read_bytes()[96:132]
    frames = max(struct.unpack("=I", raw[0:4])[0], struct.unpack("=I", raw[32:36])[0])
    return 32 + frames * (24 + page_size)


def copy_files(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for suffix in ("", "-wal"):
        if Path(f"{src}{suffix}").exists():
            shutil.copyfile(f"{src}{suffix}", dest / f"outbox.db{suffix}")
    return dest / "outbox.db"


@pytest.mark.timeout(90)
def test_frozen_mid_write_copies_are_intact_and_gap_free(tmp_path, mosquitto):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    db = tmp_path / "outbox.db"
    cfg = write_config(tmp_path / "agent.toml", f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{mosquitto.url}"]
        backoff_initial = 0.05
        backoff_max = 0.2
        [outbox]
        path = "{db}"
        [control]
        socket = "{tmp_path}/control.sock"
        [[drivers]]
        type = "mock.stress"
        name = "stress-1"
        rate_hz = 2000
        alert_every = 50
    """)
    zygote = Zygote()
    agent = _Agent(cfg, tmp_path / "agent.log", zygote)
    agent.start()
    highest = torn_checked = 0
    try:
        for trial in range(STOPS):
            if not agent.alive():
                agent.start()
            busy = _last_seq(db) + rng.randint(1, 20)  # fsync-bound: ~200 commits/s
            wait_until(lambda b=busy: _last_seq(db) >= b, 20, "agent busy storing")
            until = time.monotonic() + rng.uniform(0.005, 0.08)
            wait_until(lambda u=until: time.monotonic() >= u, 1, "random instant", 0.001)
            agent.signal(signal.SIGSTOP)
            copy = copy_files(db, tmp_path / f"copy-{trial}")
            torn = copy_files(db, tmp_path / f"torn-{trial}")
            floor = backfilled_bytes(db)  # read while the agent is still frozen
            if trial % 4 == 3:
                agent.kill()  # the power never comes back for this process
            else:
                agent.signal(signal.SIGCONT)
            highest = max(highest, check_copy(copy))
            wal = Path(f"{torn}-wal")
            if wal.exists() and wal.stat().st_size > floor:
                with wal.open("r+b") as fh:
                    fh.truncate(rng.randrange(floor, wal.stat().st_size))
                check_copy(torn)
                torn_checked += 1
    finally:
        agent.kill()
        zygote.close()
    print(f"power-loss copies: {STOPS} intact + {torn_checked} torn-WAL, seed {seed}, "
          f"up to seq {highest}")
    assert highest > 5 * STOPS
    assert torn_checked >= STOPS // 2
