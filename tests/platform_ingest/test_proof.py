"""Nothing lost end to end, with real parts: a real agent, mosquitto, ingest workers as
processes and a private PostgreSQL. The broker drops for real (a queue of 50 for offline
subscribers; a restart without persistence); the ingest finds the gaps, asks, and ends
with every seq exactly once and nothing marked lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edgeagent_platform.store import Store

from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.core.test_resend import draft
from tests.platform_ingest.conftest import WorkerProcess
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import until

GRACE = ["--gap-grace-s", "0.5"]


def seq_counts(db: str) -> dict[int, int]:
    store = Store(db)
    try:
        return {int(s): int(n) for s, n in store.query(
            "SELECT seq, COUNT(*) FROM events WHERE home = 'home-1' GROUP BY seq")}
    finally:
        store.close()


def tracking(db: str) -> tuple[int, int, int, int]:
    """(watermark, open gaps, lost ranges, events that came as resends)."""
    store = Store(db)
    try:
        watermark = store.query("SELECT watermark FROM homes WHERE home = 'home-1'")
        gaps = store.query("SELECT COUNT(*) FROM gaps")[0][0]
        lost = store.query("SELECT COUNT(*) FROM lost")[0][0]
        resent = store.query("SELECT COUNT(*) FROM events WHERE resent = 1")[0][0]
        return (int(watermark[0][0]) if watermark else 0, int(gaps), int(lost), int(resent))
    finally:
        store.close()


async def flow(agent: Agent, first: int, last: int, chunk: int = 10) -> None:
    """Events flowing from the kit, a chunk per loop turn, each PUBACKed by the broker."""
    for start in range(first, last + 1, chunk):
        agent.outbox.append([draft(n) for n in range(start, min(start + chunk, last + 1))],
                            synced=True)
        agent.publisher.wake()
        await asyncio.sleep(0.005)
    await until(lambda: agent.outbox.stats().pending == 0, 30, "broker took every event")


def workers(tmp_path: Path, broker: Mosquitto, db: str, *extra: str) -> list[WorkerProcess]:
    return [WorkerProcess(f"w{n}", broker.url, db, tmp_path / f"w{n}.log", *GRACE, *extra)
            for n in (1, 2)]


async def assert_every_seq_once(db: str, total: int) -> None:
    await until(lambda: tracking(db)[:3] == (total, 0, 0), 60, "every gap repaired")
    counts = seq_counts(db)
    assert sorted(counts) == list(range(1, total + 1))
    assert set(counts.values()) == {1}  # exactly once
    assert tracking(db)[2] == 0  # none marked lost


async def test_workers_down_while_events_flow_broker_drops_all_repaired(tmp_path, pg_url):
    broker = Mosquitto(tmp_path / "broker", extra="max_queued_messages 50").start()
    agent = Agent(make_config(tmp_path, broker.url), sync_probe=lambda: True,
                  tick_interval=0.05)
    # Sessions kept while the workers are down: the broker queues 50 each, drops the rest.
    ingest = workers(tmp_path, broker, pg_url, "--session-expiry-s", "300")
    try:
        for worker in ingest:
            await asyncio.to_thread(worker.start)
        async with RunningAgent(agent):
            await flow(agent, 1, 50)
            await until(lambda: tracking(pg_url)[0] == 50, 20, "first 50 stored")
            for worker in ingest:
                await asyncio.to_thread(worker.stop)
            await flow(agent, 51, 300)  # the broker queues 50 per session, drops the rest
            for worker in ingest:
                await asyncio.to_thread(worker.start)
            await assert_every_seq_once(pg_url, 300)
            resent = tracking(pg_url)[3]
            assert resent >= 100, f"only {resent} came as resends: did the broker drop any?"
    finally:
        for worker in ingest:
            await asyncio.to_thread(worker.stop)
        broker.kill()


async def test_broker_restarted_without_persistence_mid_stream_all_repaired(tmp_path, pg_url):
    broker = Mosquitto(tmp_path / "broker", persistence=False).start()
    agent = Agent(make_config(tmp_path, broker.url), sync_probe=lambda: True,
                  tick_interval=0.05)
    ingest = workers(tmp_path, broker, pg_url)
    try:
        for worker in ingest:
            await asyncio.to_thread(worker.start)
        async with RunningAgent(agent):
            await flow(agent, 1, 50)
            await until(lambda: tracking(pg_url)[0] == 50, 20, "first 50 stored")
            for worker in ingest:
                await asyncio.to_thread(worker.stop)
            await flow(agent, 51, 150)  # queued in the broker's memory for the workers
            connections = agent.publisher.health.connections
            broker.kill()  # everything it held is gone: queues, sessions, retained status
            broker.start()
            await until(lambda: agent.publisher.health.connections > connections, 20,
                        "agent back")
            await flow(agent, 151, 250)
            for worker in ingest:
                await asyncio.to_thread(worker.start)
            await assert_every_seq_once(pg_url, 250)
            assert tracking(pg_url)[3] >= 100  # 51-150 died with the broker: all resent
    finally:
        for worker in ingest:
            await asyncio.to_thread(worker.stop)
        broker.kill()


async def test_a_worker_killed_mid_stream_loses_nothing(tmp_path, pg_url):
    broker = Mosquitto(tmp_path / "broker", extra="max_queued_messages 50").start()
    agent = Agent(make_config(tmp_path, broker.url), sync_probe=lambda: True,
                  tick_interval=0.05)
    ingest = workers(tmp_path, broker, pg_url)
    try:
        for worker in ingest:
            await asyncio.to_thread(worker.start)
        async with RunningAgent(agent):
            await flow(agent, 1, 100)
            ingest[0].kill()  # kill -9: no DISCONNECT, the tracker lease goes stale
            await flow(agent, 101, 300)
            await assert_every_seq_once(pg_url, 300)
    finally:
        for worker in ingest:
            await asyncio.to_thread(worker.stop)
        broker.kill()
