"""Long soak: 24 simulated hours of a whole kit at an accelerated clock, with random faults.

    PYTHONPATH=. .venv/bin/python bench/soak_day.py [--speed 720] [--hours 24] [--seed N]

One in-process `Agent` on a `ScaledClock` runs every mock driver at once:
`mock.home` (the two-day scripted resident on real gpio drivers over mock pins),
`mock.stress` at a few Hz, `ble.vitals` on the fake bleak backend with the demo
monitors, and `serial.bedmat` on a real pseudo-terminal. It publishes to a
private mosquitto (persistence on) read by a durable subscriber. Faults are
drawn at random each simulated hour: the broker stopped for a while and
restarted, the bed mat unplugged and replugged, line noise on the serial line.

Every simulated hour it samples RSS (VmRSS), open file descriptors, the outbox
file size (db + WAL) and depth. At the end the broker is left up, the outbox is
drained and the subscriber must hold every seq 1..N (lost must be 0). Prints
one JSON object (quoted in docs/reliability.md); exits 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeagent_mocks.ble import FakeAdapter, default_adapter
from edgeagent_mocks.ble.demo import DEMO_DEVICES, populate_demo
from edgeagent_mocks.pty_bedmat import PtyBedMat

from edgeagent.clock import ScaledClock
from edgeagent.supervisor import Agent
from tests.conftest import make_config
from tests.faults.harness import DurableSubscriber
from tests.faults.kill_trials import BROKER_AS_US
from tests.support.mosquitto import Mosquitto


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def fd_kinds() -> dict[str, int]:
    """Open descriptors by what they point at (socket, pipe, pts, file...), to find a leak."""
    kinds: dict[str, int] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        kind = target.split(":", 1)[0] if ":" in target else (
            "pts" if target.startswith("/dev/pts") else Path(target).name)
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def outbox_bytes(db: Path) -> dict[str, int]:
    """The database file and its write-ahead log (which SQLite reuses, not shrinks)."""
    return {"db": file_size(db), "wal": file_size(Path(f"{db}-wal"))}


def drivers(mat_port: str, stress_hz: float) -> list[dict[str, Any]]:
    return [
        {"type": "mock.home", "name": "home", "timezone": "Europe/Amsterdam"},
        {"type": "mock.stress", "name": "stress", "rate_hz": stress_hz, "sensor": "power"},
        {"type": "ble.vitals", "name": "vitals", "backend": "fake", "room": "bedroom",
         "max_concurrent_connections": 4, "devices": [
             {"id": "hr-strap", "address": DEMO_DEVICES["hr-strap"],
              "profiles": ["heart_rate", "battery"]},
             {"id": "bp-cuff", "address": DEMO_DEVICES["bp-cuff"],
              "profiles": ["blood_pressure", "battery"], "mode": "poll",
              "poll_interval_s": 1800},
             {"id": "thermometer", "local_name": "Thermo-Demo", "profiles": ["thermometer"],
              "mode": "advert"}]},
        # At 720x a real 0.1 s between frames is 72 simulated seconds: widen the silence limit.
        {"type": "serial.bedmat", "name": "mat", "port": mat_port, "room": "bedroom",
         "silence_timeout": 600, "exit_settle": 60, "reopen_initial": 0.2, "reopen_max": 2},
    ]


class Mat:
    """The bed mat's side: a frame every 0.1 real s, state flips, unplugs and noise."""

    def __init__(self, workdir: Path, rng: random.Random) -> None:
        self.pty = PtyBedMat(link_dir=workdir / "dev", seed=rng.randrange(1 << 30))
        self.rng = rng
        self.unplugs = 0
        self.noise_bursts = 0

    def plug(self) -> None:
        self.pty.start()
        assert self.pty._master is not None
        os.set_blocking(self.pty._master, False)  # never block the loop if no one reads

    async def run(self) -> None:
        while True:
            with contextlib.suppress(BlockingIOError, OSError):
                if self.rng.random() < 0.01:
                    self.pty.report("IN" if self.pty.state == "OUT" else "OUT")
                else:
                    self.pty.report()
            await asyncio.sleep(0.1)

    async def unplug_for(self, seconds: float) -> None:
        self.unplugs += 1
        self.pty.disconnect()
        await asyncio.sleep(seconds)
        self.plug()

    def noise(self) -> None:
        self.noise_bursts += 1
        with contextlib.suppress(BlockingIOError, OSError):
            self.pty.garbage(self.rng.randrange(8, 200))


async def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    broker = Mosquitto(workdir / "broker", persistence=True, extra=BROKER_AS_US).start()
    sub = DurableSubscriber(broker.port).start()
    clock = ScaledClock(args.speed, start=datetime(2026, 3, 10, 4, 0, tzinfo=UTC))
    adapter: FakeAdapter = default_adapter()
    adapter.peripherals.clear()
    populate_demo(adapter, clock, speed_s=600.0)
    mat = Mat(workdir, rng)
    mat.plug()
    config = make_config(workdir, broker.url, drivers(mat.pty.port, args.stress_hz))
    agent = Agent(config, clock=clock, sync_probe=lambda: True, tick_interval=0.05,
                  status_interval=5.0)
    stop = asyncio.Event()
    agent_task = asyncio.create_task(agent.run(stop))
    await asyncio.wait_for(agent.ready.wait(), 20)
    helpers = [asyncio.create_task(adapter.autopump(0.05)), asyncio.create_task(mat.run())]
    db = Path(config.outbox.path)
    hour_real = 3600.0 / args.speed
    samples: list[dict[str, Any]] = []
    broker_restarts = 0
    broker_down_real = 0.0
    real_start = time.monotonic()
    try:
        for hour in range(1, args.hours + 1):
            hour_end = real_start + hour * hour_real
            if rng.random() < args.broker_fault_rate:  # the broker goes away for a while
                await asyncio.sleep(rng.uniform(0, hour_real / 2))
                broker.stop()
                down = rng.uniform(0.05, 0.4) * hour_real
                await asyncio.sleep(down)
                broker.start()
                broker_restarts += 1
                broker_down_real += down
            if rng.random() < args.mat_fault_rate:
                await mat.unplug_for(rng.uniform(0.02, 0.15) * hour_real)
            if rng.random() < args.mat_fault_rate:
                mat.noise()
            await asyncio.sleep(max(0.0, hour_end - time.monotonic()))
            stats = agent.outbox.stats()
            samples.append({"hour": hour, "rss_kb": rss_kb(), "fds": open_fds(),
                            "outbox": outbox_bytes(db), "pending": stats.pending,
                            "last_seq": stats.last_seq, "fd_kinds": fd_kinds()})
            print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
        # Leave the broker up and let everything drain.
        drain_start = time.monotonic()
        while agent.outbox.stats().pending and time.monotonic() - drain_start < 120:
            await asyncio.sleep(0.05)
        status = agent.status()
        # paho's per-client socketpair is closed when the client object is collected (it sits
        # in a reference cycle): count again after a full collection to tell that from a leak.
        fds_before_gc = open_fds()
        gc.collect()
        fds_after_gc, kinds_after_gc = open_fds(), fd_kinds()
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        stop.set()
        await asyncio.wait_for(agent_task, 60)
    last_seq = int(status["outbox"]["last_seq"])
    deadline = time.monotonic() + 60
    while not set(range(1, last_seq + 1)) <= sub.seqs() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    received = sub.seqs()
    lost = sorted(set(range(1, last_seq + 1)) - received)
    fresh = sub.counts(fresh_only=True)
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall())
    sub.stop()
    broker.stop()
    mat.pty.close()
    first, last = samples[0], samples[-1]
    return {
        "simulated_hours": args.hours, "speed": args.speed, "seed": args.seed,
        "real_seconds": round(time.monotonic() - real_start, 1),
        "events": last_seq, "lost": len(lost), "lost_seqs": lost[:20],
        "duplicates_fresh": sum(n - 1 for n in fresh.values() if n > 1),
        "readings": status["counters"]["readings"],
        "rss_kb_first_hour": first["rss_kb"], "rss_kb_last_hour": last["rss_kb"],
        "rss_growth_kb": last["rss_kb"] - first["rss_kb"],
        "rss_kb_max": max(s["rss_kb"] for s in samples),
        "fds_first_hour": first["fds"], "fds_last_hour": last["fds"],
        "fds_max": max(s["fds"] for s in samples),
        "fds_end": fds_before_gc, "fds_end_after_gc": fds_after_gc,
        "fd_kinds_end_after_gc": kinds_after_gc,
        "outbox_db_bytes_max": max(s["outbox"]["db"] for s in samples),
        "outbox_wal_bytes_max": max(s["outbox"]["wal"] for s in samples),
        "outbox_bytes_end": outbox_bytes(db),
        "pending_max": max(s["pending"] for s in samples),
        "broker_restarts": broker_restarts,
        "broker_down_simulated_min": round(broker_down_real * args.speed / 60, 1),
        "mat_unplugs": mat.unplugs, "mat_noise_bursts": mat.noise_bursts,
        "driver_readings": {name: d["readings"] for name, d in status["drivers"].items()},
        "driver_restarts": {name: d["restarts"] for name, d in status["drivers"].items()},
        "event_kinds": dict(sorted(kinds.items())),
        "hourly": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=720.0, help="simulated s per real s")
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--stress-hz", type=float, default=4.0, help="mock.stress, real Hz")
    parser.add_argument("--broker-fault-rate", type=float, default=0.4,
                        help="chance per simulated hour of a broker outage")
    parser.add_argument("--mat-fault-rate", type=float, default=0.3,
                        help="chance per simulated hour of a mat unplug, and of line noise")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="edgeagent-soakday-"))
    report = asyncio.run(soak(args, workdir))
    report["workdir"] = str(workdir)
    print(json.dumps(report, indent=2))
    return 1 if report["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
