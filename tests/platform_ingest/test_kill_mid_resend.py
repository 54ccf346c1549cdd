"""kill -9 mid-resend loses nothing: the platform asks again.

A real `edgeagent run` process holds a few thousand delivered events the
platform never saw (the broker took them while no ingest was subscribed). The
reference ingest finds the gap from the retained status and asks for all of
it; the agent is SIGKILLed while it republishes. The gap stays open, the ingest
asks again, the restarted agent answers, and PostgreSQL ends with every seq
exactly once. The outbox is read from outside before and after: not a row,
`seq`, body or delivered mark changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from edgeagent_platform.worker import WorkerConfig
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.outbox import Outbox
from tests.core.test_resend import draft
from tests.faults.harness import read_outbox
from tests.platform_ingest.conftest import WorkerThread
from tests.platform_ingest.test_proof import seq_counts, tracking
from tests.support.agent_toml import write_agent_toml
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until

EVENTS = 3000
KILL_AFTER_RESENT = 100  # resent events seen by the platform before the SIGKILL


def agent_config(workdir: Path, broker_url: str) -> Path:
    """No drivers: the only traffic is the stored history and its resends."""
    return write_agent_toml(workdir / "agent.toml", broker_url)


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edgeagent.cli.main", "run", "--config", str(config)],
            stdout=out, stderr=out)


def outbox_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every stored event as the outbox holds it, read-only from outside the agent."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(
            "SELECT seq, id, ts, body, delivered_at FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


class KillOnResend:
    """A platform-side MQTT 5 watcher: SIGKILLs the agent on the n-th resent event it sees,
    from the callback itself, so the kill lands while the resend is still streaming."""

    def __init__(self, port: int, pid: int, after: int) -> None:
        self.pid, self.after = pid, after
        self.resent: set[int] = set()
        self.killed_at: int | None = None
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kill-on-resend",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *a: c.subscribe("care/home-1/events/#", qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = dict(getattr(msg.properties, "UserProperty", None) or [])
        if props.get("resent") != "1":
            return
        with self.lock:
            self.resent.add(int(json.loads(msg.payload)["seq"]))
            if self.killed_at is None and len(self.resent) >= self.after:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.killed_at = len(self.resent)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_kill9_mid_resend_loses_nothing_the_platform_asks_again(tmp_path, pg_url):
    broker = Mosquitto(tmp_path / "broker").start()
    db = tmp_path / "outbox.db"
    seed = Outbox(db, "home-1", boot_id="seed")
    seed.append([draft(n) for n in range(1, EVENTS + 1)], synced=True)
    seed.close()
    config = agent_config(tmp_path, broker.url)
    log = tmp_path / "agent.log"
    agent = start_agent(config, log)
    ingest: WorkerThread | None = None
    watcher: KillOnResend | None = None
    try:
        # Delivered to a broker with no ingest subscribed: PUBACKed, and gone for the platform.
        wait_until(lambda: not read_outbox(db)[2] or agent.poll() is not None, 60,
                   "every event PUBACKed")
        assert agent.poll() is None, log.read_text()[-3000:]
        before = outbox_rows(db)
        last_before = read_outbox(db)[0]
        assert last_before >= EVENTS and all(row[4] is not None for row in before)

        watcher = KillOnResend(broker.port, agent.pid, KILL_AFTER_RESENT)
        ingest = WorkerThread(WorkerConfig(broker=broker.url, db=pg_url, name="w1",
                                           gap_grace_s=0.5)).start()
        # The retained status says last_seq; the whole history is one gap; the ingest asks.
        agent.wait(60)
        assert agent.returncode == -signal.SIGKILL
        assert watcher.killed_at is not None
        # Still open after the kill, so the ingest asks again (to a dead agent: the broker
        # keeps the command in the agent's session) ...
        wait_until(lambda: ingest.worker.counters["resend_asked"] >= 2, 20, "asked again")
        with watcher.lock:
            seen_before_restart = len(watcher.resent)
        assert seen_before_restart < last_before, "the kill did not land mid-resend"
        assert tracking(pg_url)[1] >= 1  # a gap is still open
        # ... and nothing durable on the kit moved.
        assert outbox_rows(db) == before
        assert read_outbox(db)[0] == last_before

        agent = start_agent(config, log)
        wait_until(lambda: tracking(pg_url)[:3] == (last_before, 0, 0)
                   or agent.poll() is not None, 60, "every gap repaired")
        assert agent.poll() is None, log.read_text()[-3000:]
        counts = seq_counts(pg_url)
        assert sorted(counts) == list(range(1, last_before + 1))
        assert set(counts.values()) == {1}  # exactly once
        assert tracking(pg_url)[2:] == (0, last_before)  # none lost; every one a resend
        print(json.dumps({"events": last_before, "killed_after_resent": watcher.killed_at,
                          "resent_seen_before_restart": seen_before_restart,
                          "asks": ingest.worker.counters["resend_asked"]}))
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
        # Resend changes nothing on the kit: same rows, same seqs, same delivered marks.
        assert outbox_rows(db) == before
        assert read_outbox(db)[0] == last_before
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(15)
        if ingest is not None:
            ingest.stop()
        if watcher is not None:
            watcher.stop()
        broker.kill()
