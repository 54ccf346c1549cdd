"""A healthy outbox is never thrown away: a write lock held by another process, a file
the agent's user may not write, and a truly corrupt file, each at start."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox, StoredEvent
from edgeagent.supervisor import Agent
from tests.conftest import AgentProcess, RunningAgent, make_config, write_config
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber
from tests.support.waiting import until, wait_until

T0 = datetime(2026, 11, 22, 2, 10, tzinfo=UTC)


def seed(path: Path, readings: int, alerts: int) -> list[StoredEvent]:
    """An outbox left with undelivered events, alerts among them, as a stopped agent leaves it."""
    box = Outbox(path, "home-1", boot_id="earlier-boot")
    drafts = [Draft(kind=Kind.READING, type="heart_rate", severity=Severity.INFO,
                    source={"driver": "ble", "device": "band"}, mono=float(i),
                    wall=T0 + timedelta(seconds=i), data={"bpm": 60 + i % 30, "pad": "x" * 150})
              for i in range(readings)]
    for i in range(0, readings, readings // alerts)[:alerts]:
        drafts[i] = Draft(kind=Kind.ALERT, type="sos", severity=Severity.CRITICAL,
                          source={"driver": "gpio", "device": "sos-button"}, mono=float(i),
                          wall=T0 + timedelta(seconds=i), data={"pressed": True},
                          alert={"id": f"alert-{i}", "state": "raised"})
    stored = box.append(drafts, synced=True)
    box.close()
    return stored


def agent_toml(directory: Path, broker_url: str) -> Path:
    return write_config(directory / "agent.toml", f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{broker_url}"]
        backoff_initial = 0.05
        backoff_max = 0.3
        [outbox]
        path = "{directory}/outbox.db"
        [control]
        socket = "{directory}/control.sock"
    """)


def run_with_lock_wait(config: Path, lock_wait: float, user: str | None = None,
                       timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`edgeagent run` as a real process with a short start-up lock wait (the default is 30 s)."""
    code = textwrap.dedent(f"""
        import sys
        import edgeagent.outbox
        edgeagent.outbox.LOCK_WAIT_S = {lock_wait!r}
        import edgeagent.instance_lock
        edgeagent.instance_lock.INSTANCE_WAIT_S = {lock_wait!r}
        from edgeagent.cli.main import main
        sys.exit(main(["-v", "run", "--config", {str(config)!r}]))
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, user=user, cwd="/", check=False,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2])))


class LockHolder:
    """A real second process holding SQLite's write lock until told to let go."""

    SCRIPT = textwrap.dedent("""
        import sqlite3, sys
        conn = sqlite3.connect(sys.argv[1], isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("UPDATE meta SET value=value WHERE key='schema_version'")
        print("held", flush=True)
        sys.stdin.readline()
        conn.execute("COMMIT")
        print("released", flush=True)
    """)

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(db)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"
        self.proc.wait(10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pending_ids(db: Path) -> dict[int, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT seq, id FROM events WHERE delivered_at IS NULL"))
    finally:
        conn.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "broker").start()
    yield server
    server.kill()


def test_write_lock_at_start_is_waited_out_and_every_pending_event_delivered(tmp_path, broker):
    stored = seed(tmp_path / "outbox.db", readings=40, alerts=6)
    sub = PlatformSubscriber(broker.port, "care/#").start()
    holder = LockHolder(tmp_path / "outbox.db")
    proc = AgentProcess(agent_toml(tmp_path, broker.url), tmp_path / "agent.log")
    try:
        proc.start()
        wait_until(lambda: "is locked by another process" in proc.log.read_text(), 20,
                   "the agent to report the held lock")
        assert proc.proc is not None and proc.proc.poll() is None  # waiting, not gone
        holder.release()
        proc.wait_connected(0)
        sub.wait_for(lambda s: {e.seq for e in stored} <= s.seqs_unlocked(), timeout=30)
        received = {e["seq"]: e for e in sub.events()}
        assert {e.seq: e.id for e in stored} == {s: received[s]["id"] for s in received}
        assert sum(1 for e in received.values() if e["kind"] == "alert") == 6
        assert not list(tmp_path.glob("outbox.db.corrupt-*"))
        assert proc.terminate() == 0
    finally:
        holder.kill()
        proc.kill()
        sub.stop()


def test_write_lock_held_past_the_bound_exits_75_and_leaves_the_file(tmp_path, broker):
    db = tmp_path / "outbox.db"
    stored = seed(db, readings=20, alerts=3)
    holder = LockHolder(db)
    try:
        before = digest(db)
        result = run_with_lock_wait(agent_toml(tmp_path, broker.url), 1.0)
        assert result.returncode == 75, result.stderr[-2000:]
        assert f"outbox {db} is still locked by another process" in result.stderr
        assert digest(db) == before
    finally:
        holder.release()
    assert not list(tmp_path.glob("outbox.db.corrupt-*"))
    assert pending_ids(db) == {e.seq: e.id for e in stored}


def test_second_agent_on_the_same_outbox_exits_75(tmp_path, broker):
    seed(tmp_path / "outbox.db", readings=5, alerts=1)
    first = AgentProcess(agent_toml(tmp_path, broker.url), tmp_path / "agent.log")
    try:
        first.start(wait=True)
        result = run_with_lock_wait(tmp_path / "agent.toml", 0.5)
        assert result.returncode == 75, result.stderr[-2000:]
        pid = first.proc.pid  # type: ignore[union-attr]
        assert f"another edgeagent (pid {pid}) is running on {tmp_path / 'outbox.db'}" \
            in result.stderr
        assert first.proc is not None and first.proc.poll() is None
        assert first.terminate() == 0
    finally:
        first.kill()


def test_outbox_the_agent_may_not_write_exits_2_naming_file_and_fix(tmp_path, broker):
    """A read-only outbox file: made immutable with `chattr +i`, which binds root too.

    (The tests run as root, which ignores file modes; switching the agent process to
    `nobody` is not possible here because the interpreter lives under a 0700 /root.)
    """
    db = tmp_path / "outbox.db"
    stored = seed(db, readings=26, alerts=4)
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(db)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        before = digest(db)
        result = run_with_lock_wait(agent_toml(tmp_path, broker.url), 2.0)
        assert result.returncode == 2, result.stderr[-2000:]
        assert f"outbox {db} is not writable by user" in result.stderr
        assert f"Fix: sudo chown -R root: {tmp_path}" in result.stderr
        assert "lsattr" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert digest(db) == before
    assert not list(tmp_path.glob("outbox.db.corrupt-*"))
    assert pending_ids(db) == {e.seq: e.id for e in stored}


def zero_page_without_alerts(path: Path, stored: list[StoredEvent]) -> StoredEvent:
    """Zero one b-tree page holding readings only (a bad SD-card block); return one victim."""
    data = path.read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    alert_pages = {data.index(e.id.encode()) // page_size for e in stored if e.kind == "alert"}
    victim = next(e for e in stored[len(stored) // 2:] if e.kind == "reading"
                  and data.index(e.id.encode()) // page_size not in alert_pages)
    page = data.index(victim.id.encode()) // page_size
    with path.open("r+b") as fh:
        fh.seek(page * page_size)
        fh.write(b"\0" * page_size)
    return victim


async def test_corrupt_outbox_is_moved_aside_and_its_readable_events_delivered(
        tmp_path, mosquitto, platform, always_synced):
    db = tmp_path / "outbox.db"
    stored = seed(db, readings=150, alerts=8)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    victim = zero_page_without_alerts(db, stored)
    agent = Agent(make_config(tmp_path, mosquitto.url), sync_probe=always_synced,
                  tick_interval=0.05)
    salvage = agent.outbox.stats().salvage
    assert salvage is not None and salvage["unsalvaged"] >= 1
    lost = salvage["unsalvaged"]
    async with RunningAgent(agent):
        await until(lambda: len(platform.seqs() & {e.seq for e in stored})
                    >= len(stored) - lost, 30, "salvaged events delivered")
        status = agent.status()
    received = {e["seq"]: e for e in platform.events()}
    missing = [e for e in stored if e.seq not in received]
    assert len(missing) == lost and victim in missing
    assert all(e.kind == "reading" for e in missing)  # every alert got through
    assert all(received[e.seq]["id"] == e.id for e in stored if e.seq in received)
    assert status["outbox"]["salvage"]["salvaged"] == len(stored) - lost
    assert any(f"{lost} could not be read" in w for w in status["warnings"]), status["warnings"]
    assert list(tmp_path.glob("outbox.db.corrupt-*"))


def test_a_second_run_gives_up_within_ten_seconds_by_default():
    from edgeagent import instance_lock
    assert instance_lock.INSTANCE_WAIT_S <= 10
