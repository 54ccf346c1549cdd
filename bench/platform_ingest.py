"""The reference platform ingest under load, with real parts; prints one JSON document.

Everything private and on loopback: mosquitto, a PostgreSQL run as `nobody`,
`edgeagent-platform run` worker processes, and the homes as full agents
(outbox, publisher, `resend`) in this process's event loop.

0. baseline: the raw insert rate of the same PostgreSQL (Store.store_batch, 1 000 rows a
   transaction, no MQTT, no validation) -- what the ingest is compared with;
1. ingest: the homes' events wait in the broker for the workers' sessions, then the
   workers start -> events/s from the broker into PostgreSQL;
2. fleet: events flow from every home, one worker is SIGKILLed mid-run -> every seq of
   every home stored once, gap -> repaired times (median, max);
3. proof: one home, mosquitto `max_queued_messages 50`, two workers stopped while
   `--proof-events` flow, then started -> resent, lost, exactly once.

    .venv/bin/python bench/platform_ingest.py [--homes 200] [--events 200] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import Broker, emit, log, machine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgeagent_platform.store import Store

from edgeagent.config import parse_config
from edgeagent.models import Draft, Kind, Severity
from edgeagent.supervisor import Agent
from tests.support.postgres import Postgres

T0 = time.time()


def draft(n: int) -> Draft:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    return Draft(kind=Kind.STATE, type="motion", severity=Severity.INFO, source={"driver": "b"},
                 mono=float(n), wall=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=n),
                 data={"n": n})


class Workers:
    def __init__(self, broker: Broker, db: str, logdir: Path, n: int, *extra: str) -> None:
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * n
        self.args = [[sys.executable, "-m", "edgeagent_platform.cli", "run", "-v", "--broker",
                      broker.url, "--db", db, "--prefix", "care", "--name", f"w{i}", *extra]
                     for i in range(n)]
        self.logs = [logdir / f"w{i}.log" for i in range(n)]

    def start(self) -> float:
        """Start every worker at once; return the wall time when the last one subscribed."""
        before = [self._subscribed(i) for i in range(len(self.args))]
        for i, args in enumerate(self.args):
            with self.logs[i].open("ab") as out:
                self.procs[i] = subprocess.Popen(args, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        for i in range(len(self.args)):
            while self._subscribed(i) <= before[i]:
                if time.monotonic() > deadline:
                    raise TimeoutError(self.logs[i].read_text()[-2000:])
                time.sleep(0.02)
        return time.time()

    def _subscribed(self, i: int) -> int:
        return self.logs[i].read_text().count("subscribed") if self.logs[i].exists() else 0

    def stop(self, sig: int = signal.SIGTERM, which: list[int] | None = None) -> None:
        for i in which if which is not None else range(len(self.procs)):
            proc = self.procs[i]
            if proc is not None and proc.poll() is None:
                proc.send_signal(sig)
                proc.wait(30)


def homes(broker: Broker, data: Path, n: int, first: int = 0) -> list[Agent]:
    agents = []
    for h in range(first, first + n):
        home = f"home-{h:04d}"
        config = parse_config({
            "home": {"id": home},
            "mqtt": {"urls": [broker.url], "topic_prefix": "care", "backoff_initial": 0.1,
                     "backoff_max": 2.0},
            "outbox": {"path": str(data / home / "outbox.db")},
            "control": {"socket": str(data / home / "control.sock")},
            # 10 resends a minute per home would throttle the bench's short grace period.
            "commands": {"rate_per_minute": 120},
        }, "<bench>")
        agents.append(Agent(config, sync_probe=lambda: True, tick_interval=1.0,
                            status_interval=3600.0))
    return agents


def q(db: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    store = Store(db)
    try:
        return store.query(sql, args)
    finally:
        store.close()


def complete(db: str, expected: dict[str, int]) -> bool:
    rows = dict(q(db, "SELECT home, watermark FROM homes"))
    gaps = q(db, "SELECT COUNT(*) FROM gaps")[0][0]
    return gaps == 0 and all(rows.get(h) == n for h, n in expected.items())


def exactly_once(db: str, expected: dict[str, int]) -> dict[str, Any]:
    dup = q(db, "SELECT COUNT(*) FROM (SELECT home, seq FROM events GROUP BY home, seq "
                "HAVING COUNT(*) > 1) d")[0][0]
    counts = dict(q(db, "SELECT home, COUNT(*) FROM events GROUP BY home"))
    missing = sum(n - int(counts.get(h, 0)) for h, n in expected.items())
    lost = q(db, "SELECT COUNT(*) FROM lost")[0][0]
    return {"events": sum(expected.values()), "missing": missing, "duplicated_seqs": dup,
            "lost_ranges": lost}


def repairs(db: str) -> dict[str, Any]:
    times = [float(c) - float(o) for o, c in q(db, "SELECT opened_at, closed_at FROM repairs")]
    if not times:
        return {"gaps": 0}
    return {"gaps": len(times), "median_s": round(statistics.median(times), 2),
            "max_s": round(max(times), 2)}


async def wait(predicate: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(what)
        await asyncio.sleep(0.2)
    return time.monotonic() - start


def baseline(pg: Postgres, rows: int) -> dict[str, Any]:
    store = Store(pg.create_database("baseline"))
    batch = 1000
    start = time.perf_counter()
    for b in range(0, rows, batch):
        store.store_batch([(str(uuid.uuid4()), f"home-{i % 200:04d}", i, "state", "motion",
                            "info", "2026-03-01T00:00:00.000Z", None, None,
                            '{"pad":"' + "x" * 300 + '"}', time.time(), 0)
                           for i in range(b, min(b + batch, rows))], [], {})
    elapsed = time.perf_counter() - start
    store.close()
    return {"rows": rows, "rows_per_s": round(rows / elapsed)}


async def ingest_and_fleet(args: argparse.Namespace, pg: Postgres, work: Path) -> dict[str, Any]:
    broker = Broker(work / "broker").start()
    db = pg.create_database("fleet")
    grace = ["--gap-grace-s", str(args.grace)]
    # Sessions that outlive the workers, so the broker holds the backlog for them.
    workers = Workers(broker, db, work, args.workers, *grace, "--session-expiry-s", "600")
    agents = homes(broker, work / "homes", args.homes)
    stop = asyncio.Event()
    result: dict[str, Any] = {}
    try:
        workers.start()
        workers.stop()
        for agent in agents:
            agent.outbox.append([draft(n) for n in range(1, args.events + 1)], synced=True)
        tasks = [asyncio.create_task(a.run(stop)) for a in agents]
        await wait(lambda: all(a.outbox.stats().pending == 0 for a in agents), 600,
                   "homes drained into the broker")
        expected = {a.config.home.id: args.events for a in agents}
        ready = workers.start()
        await wait(lambda: q(db, "SELECT COUNT(*) FROM events")[0][0]
                   >= len(agents) * args.events, 600, "ingest")
        first, last = q(db, "SELECT MIN(received_at), MAX(received_at) FROM events")[0]
        steady, = q(db, "SELECT COUNT(*) FROM events WHERE received_at >= ?", (ready,))[0]
        span = float(last) - float(first)
        result["ingest"] = {
            "events": len(agents) * args.events, "workers": args.workers,
            "events_per_s_all_workers_up": round(steady / (float(last) - ready))
            if steady and float(last) > ready else None,
            "events_after_all_up": steady,
            "events_per_s_first_to_last": round(len(agents) * args.events / span),
            "note": "backlog queued in the broker for the workers' sessions, then drained; "
                    "workers start together, the first rate counts only after the last one "
                    "subscribed"}
        # Fleet: events flow while one worker is killed. The workers come back with sessions
        # that end with their connection (the default), so a dead worker's share moves.
        workers.stop()
        workers = Workers(broker, db, work, args.workers, *grace)
        workers.start()
        more = args.events // 2
        start = time.monotonic()
        half = max(1, more // 2)
        for n in range(args.events + 1, args.events + more + 1, 5):
            for agent in agents:
                agent.outbox.append([draft(k) for k in range(n, min(n + 5, args.events + more
                                                                     + 1))], synced=True)
                agent.publisher.wake()
            if n >= args.events + half and workers.procs[0] is not None \
                    and workers.procs[0].poll() is None:
                workers.stop(signal.SIGKILL, [0])
                log("killed worker w0")
            await asyncio.sleep(0.05)
        expected = dict.fromkeys(expected, args.events + more)
        took = await wait(lambda: complete(db, expected), 600, "fleet complete")
        result["fleet"] = {"homes": len(agents), "events_per_home": args.events + more,
                           "worker_killed": "w0 (SIGKILL) mid-flow",
                           "seconds_to_complete": round(time.monotonic() - start, 2),
                           "after_last_event_s": round(took, 2),
                           **exactly_once(db, expected), "repairs": repairs(db)}
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        stop.set()
        workers.stop()
        broker.kill()
    return result


async def proof(args: argparse.Namespace, pg: Postgres, work: Path) -> dict[str, Any]:
    broker = Broker(work / "proof-broker", extra="max_queued_messages 50").start()
    db = pg.create_database("proof")
    workers = Workers(broker, db, work, 2, "--gap-grace-s", str(args.grace),
                      "--session-expiry-s", "600")
    agent = homes(broker, work / "proof-home", 1)[0]
    stop = asyncio.Event()
    try:
        workers.start()
        task = asyncio.create_task(agent.run(stop))
        await wait(lambda: agent.publisher.connected, 30, "agent connected")
        workers.stop()
        for n in range(1, args.proof_events + 1, 20):
            agent.outbox.append([draft(k) for k in range(n, min(n + 20, args.proof_events + 1))],
                                synced=True)
            agent.publisher.wake()
            await asyncio.sleep(0.01)
        await wait(lambda: agent.outbox.stats().pending == 0, 120, "broker took all")
        start = time.monotonic()
        workers.start()
        expected = {agent.config.home.id: args.proof_events}
        await wait(lambda: complete(db, expected), 600, "proof complete")
        resent = q(db, "SELECT COUNT(*) FROM events WHERE resent = 1")[0][0]
        stop.set()
        await task
        return {"events": args.proof_events, "max_queued_messages": 50,
                "came_as_resends": resent, "seconds_to_complete": round(
                    time.monotonic() - start, 2), **exactly_once(db, expected),
                "repairs": repairs(db)}
    finally:
        stop.set()
        workers.stop()
        broker.kill()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-platform-", dir=args.data))
    pg = Postgres().start()
    try:
        doc: dict[str, Any] = {"bench": "platform_ingest", "machine": machine(),
                               "gap_grace_s": args.grace}
        log("baseline ...")
        doc["baseline_raw_insert"] = baseline(pg, args.homes * args.events)
        log("ingest + fleet ...")
        doc.update(await ingest_and_fleet(args, pg, work))
        log("proof ...")
        doc["proof"] = await proof(args, pg, work)
        return doc
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--events", type=int, default=200, help="per home, first phase")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--proof-events", type=int, default=2000)
    parser.add_argument("--grace", type=float, default=2.0, help="workers' --gap-grace-s")
    parser.add_argument("--data", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                        help="where the homes' outboxes go (tmpfs: one VM, many kits)")
    args = parser.parse_args()
    emit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
