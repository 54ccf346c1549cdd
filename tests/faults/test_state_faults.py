"""Corrupt database at start, NTP clock steps of a year, a driver that hangs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from edgeagent_mocks.stress import StressDriver

from edgeagent.clock import ManualClock
from edgeagent.driver import Driver, DriverContext, DriverOptions, HealthState
from edgeagent.heuristics.passthrough import PassthroughEngine
from edgeagent.outbox import Outbox
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.support.mosquitto import free_port
from tests.support.waiting import until

# -- corrupt database -------------------------------------------------------------------


async def test_garbage_outbox_file_is_moved_aside_and_agent_publishes(
        tmp_path, mosquitto, platform, always_synced):
    db = tmp_path / "outbox.db"
    db.write_bytes(b"this is not an SQLite database, it is what a bad SD card returns\n" * 500)
    config = make_config(tmp_path, mosquitto.url, [
        {"type": "mock.stress", "name": "s", "rate_hz": 200, "count": 20}])
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05,
                  engine=PassthroughEngine())
    async with RunningAgent(agent):
        await until(lambda: set(range(1, 21)) <= platform.seqs(), 20, "published")
        warnings = agent.status()["warnings"]
    assert any("outbox was corrupt, moved aside" in w for w in warnings), warnings
    aside = list(tmp_path.glob("outbox.db.corrupt-*"))
    assert aside and aside[0].read_bytes().startswith(b"this is not an SQLite")


def test_corrupt_page_is_moved_aside_and_seq_carries_on(tmp_path):
    """A damaged events page: quick_check fails at open; `last_seq` is salvaged from meta,
    so the platform sees a jump (explained by the recovery warning), never a reused seq."""
    from edgeagent.models import Draft, Kind, Severity

    db = tmp_path / "outbox.db"
    outbox = Outbox(db, "home-1", boot_id="b")
    wall = datetime(2026, 1, 1, tzinfo=UTC)
    drafts = [Draft(kind=Kind.STATE, type="motion", severity=Severity.INFO,
                    source={"driver": "d", "device": "d"}, mono=float(i), wall=wall,
                    data={"i": i}) for i in range(300)]
    outbox.append(drafts, synced=True)
    outbox.close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='events'").fetchone()[0]
    conn.close()
    with db.open("r+b") as fh:
        fh.seek((root - 1) * page_size + 16)
        fh.write(os.urandom(page_size - 32))
    reopened = Outbox(db, "home-1", boot_id="b2")
    try:
        assert reopened.recovered_from is not None
        assert reopened.last_seq == 300
        stored = reopened.append(drafts[:1], synced=True)
        assert stored[0].seq == 301
        assert Path(reopened.recovered_from).exists()
    finally:
        reopened.close()


# -- clock steps ------------------------------------------------------------------------


@pytest.mark.parametrize("step_days", [365, -365])
async def test_ntp_step_of_a_year_corrects_ts_and_leaves_seq_alone(tmp_path, step_days):
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    synced = {"now": False}
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}", [
        {"type": "mock.stress", "name": "s", "rate_hz": 500, "count": 10}])
    agent = Agent(config, clock=clock, sync_probe=lambda: synced["now"], tick_interval=0.05,
                  engine=PassthroughEngine())
    async with RunningAgent(agent):
        await until(lambda: agent.outbox.last_seq == 10, 10, "events stored unsynced")
        before = [json.loads(b) for b in agent.outbox.export()]
        assert {e["clock"] for e in before} == {"unsynced"}
        clock.advance(10)
        clock.step_wall(step_days * 86400)  # the NTP step
        synced["now"] = True
        agent.clock_keeper.check()  # what the main loop runs every 5 s
        after = [json.loads(b) for b in agent.outbox.export()]
    assert [e["seq"] for e in after] == [e["seq"] for e in before] == list(range(1, 11))
    assert [e["id"] for e in after] == [e["id"] for e in before]
    expected = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=step_days))
    for event in after:
        assert event["clock"] == "corrected"
        assert datetime.fromisoformat(event["ts"].replace("Z", "+00:00")) == expected
    assert agent.synced


# -- a driver that hangs ----------------------------------------------------------------


class StuckOptions(DriverOptions):
    pass


class StuckInThreadDriver(Driver):
    """Calls a vendor library that never returns (in a worker thread, as blocking I/O must)."""

    Options = StuckOptions
    release = threading.Event()

    async def run(self) -> None:
        self.set_health(HealthState.OK)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def blocking_call() -> None:
            self.release.wait()  # the library call that never comes back
            with contextlib.suppress(RuntimeError):  # released after the test's loop closed
                loop.call_soon_threadsafe(done.set_result, None)

        threading.Thread(target=blocking_call, daemon=True).start()
        await done


async def test_driver_stuck_in_a_blocking_call_does_not_stop_the_others(tmp_path, always_synced):
    def factory(options: DriverOptions, context: DriverContext) -> Driver:
        if options.type == "test.stuck":
            return StuckInThreadDriver(options, context)
        return StressDriver(options, context)

    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}", [
        {"type": "mock.stress", "name": "s", "rate_hz": 100}])
    config.drivers.append(StuckOptions(type="test.stuck", name="stuck"))
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05,
                  engine=PassthroughEngine(), driver_factory=factory)
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.outbox.last_seq >= 100, 10, "other driver publishing")
            drivers = agent.status()["drivers"]
            assert drivers["s"]["readings"] >= 100
            assert drivers["stuck"]["readings"] == 0
            # Documented limit: the supervisor restarts drivers that raise or return; one
            # blocked inside a library call still says OK. Its silence shows as readings == 0.
            assert drivers["stuck"]["restarts"] == 0
    finally:
        StuckInThreadDriver.release.set()


HANG_SCRIPT = textwrap.dedent("""
    import asyncio, sys, time
    from edgeagent.driver import Driver, DriverOptions, HealthState
    from edgeagent.heuristics.passthrough import PassthroughEngine
    from edgeagent.supervisor import Agent
    from edgeagent.config import parse_config

    class HangOptions(DriverOptions):
        pass

    class LoopBlocker(Driver):
        Options = HangOptions
        async def run(self):
            self.set_health(HealthState.OK)
            await asyncio.sleep(1.5)
            time.sleep(3600)  # a blocking call on the event loop: everything stops

    config = parse_config({
        "home": {"id": "home-1"},
        "mqtt": {"urls": ["mqtt://127.0.0.1:9"], "backoff_initial": 0.5},
        "outbox": {"path": sys.argv[1]},
        "control": {"socket": sys.argv[2]},
    })
    config.drivers.append(HangOptions(type="test.hang", name="hang"))
    agent = Agent(config, engine=PassthroughEngine(), tick_interval=0.1,
                  driver_factory=lambda o, c: LoopBlocker(o, c))
    asyncio.run(agent.run(asyncio.Event()))
""")


def test_driver_blocking_the_event_loop_stops_watchdog_pings(tmp_path):
    """The supervisor cannot preempt a driver that blocks the loop; the systemd watchdog can.
    The agent pings WATCHDOG=1 from its main tick only, so the pings stop and systemd
    (WatchdogSec) kills and restarts the service."""
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify), WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-c", HANG_SCRIPT, str(tmp_path / "o.db"),
                             str(tmp_path / "c.sock")], env=env)
    pings: list[float] = []
    messages: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                data = sock.recv(4096).decode()
            except TimeoutError:
                if pings and time.monotonic() - pings[-1] > 3.0:
                    break  # 3 x WatchdogSec without a ping: systemd would have acted
                continue
            messages.append(data)
            if "WATCHDOG=1" in data:
                pings.append(time.monotonic())
        assert any("READY=1" in m for m in messages)
        assert len(pings) >= 2, "the agent fed the watchdog while healthy"
        assert time.monotonic() - pings[-1] > 3.0, "pings continued although the loop hung"
        assert proc.poll() is None  # hung, not crashed: only the watchdog can tell
    finally:
        proc.kill()
        proc.wait(10)
        sock.close()


async def test_driver_watchdog_restarts_a_driver_stuck_in_a_blocking_call(tmp_path, always_synced):
    """With `watchdog_s`, a driver silent in a call that never returns is restarted."""
    made: list[Driver] = []

    class StuckAgain(StuckInThreadDriver):
        release = threading.Event()  # its own: the test above released the shared one

    def factory(options: DriverOptions, context: DriverContext) -> Driver:
        driver: Driver
        if options.type == "test.stuck":
            driver = StuckAgain(options, context)
            made.append(driver)
        else:
            driver = StressDriver(options, context)
        return driver

    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}", [
        {"type": "mock.stress", "name": "s", "rate_hz": 100}])
    config.drivers.append(StuckOptions(type="test.stuck", name="stuck", watchdog_s=0.3))
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05,
                  engine=PassthroughEngine(), driver_factory=factory)
    try:
        async with RunningAgent(agent):
            await until(lambda: len(made) >= 3, 10, "stuck driver restarted twice")
            drivers = agent.status()["drivers"]
            assert drivers["stuck"]["watchdog_restarts"] >= 2
            assert "watchdog: no reading or heartbeat" in drivers["stuck"]["last_error"]
            # The healthy driver was never touched and kept publishing.
            assert drivers["s"]["restarts"] == 0 and drivers["s"]["watchdog_restarts"] == 0
            before = drivers["s"]["readings"]
            await until(lambda: agent.status()["drivers"]["s"]["readings"] > before + 20, 10,
                        "other driver still reading")
    finally:
        StuckAgain.release.set()
