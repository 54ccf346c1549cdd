"""The publisher against a real mosquitto: PUBACKs recorded in batches, none lost, none late.

During a drain PUBACKs are recorded in one transaction per batch (up to
ACK_BATCH, or every ACK_FLUSH_S); the last PUBACK of a burst is recorded at
once, so a lone SOS is not left waiting for the batch timer.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

import edgeagent.publisher as publisher_module
from edgeagent.config import MqttConfig
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox
from edgeagent.publisher import Publisher
from tests.support.waiting import until

HOME = "home-acks"


class CountingOutbox(Outbox):
    mark_calls = 0

    def mark_delivered(self, seqs, when=None):  # type: ignore[no-untyped-def]
        self.mark_calls += 1
        super().mark_delivered(seqs, when)


def motion(i: int) -> Draft:
    return Draft(Kind.STATE, "motion", Severity.INFO, {"driver": "t", "device": "pir"},
                 mono=float(i), wall=datetime.now(UTC), data={"n": i})


async def run_publisher(outbox: Outbox, url: str, body) -> None:  # type: ignore[no-untyped-def]
    cfg = MqttConfig(urls=[url], max_inflight=32, backoff_initial=0.05, backoff_max=0.2,
                     keepalive=5)
    publisher = Publisher(cfg, HOME, outbox, status=dict)
    task = asyncio.create_task(publisher.run())
    try:
        await body(publisher)
    finally:
        await publisher.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_drain_records_pubacks_in_batches_and_every_event_arrives(
        tmp_path: Path, mosquitto, platform):  # type: ignore[no-untyped-def]
    outbox = CountingOutbox(tmp_path / "o.db", HOME, boot_id="b")
    outbox.append([motion(i) for i in range(3000)], synced=True)

    async def body(publisher: Publisher) -> None:
        await until(lambda: outbox.stats().pending == 0, what="the backlog to drain")

    await run_publisher(outbox, mosquitto.url, body)
    platform.wait_seqs(3000)
    assert len(platform.events()) >= 3000
    assert outbox.stats().last_delivered_seq == 3000
    # One transaction per PUBACK would be 3000; per read of the socket, hundreds.
    assert outbox.mark_calls <= 3000 // 20, outbox.mark_calls


@pytest.mark.asyncio
async def test_the_last_puback_of_a_burst_is_recorded_without_waiting_for_the_batch_timer(
        tmp_path: Path, mosquitto, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(publisher_module, "ACK_FLUSH_S", 3600.0)  # the timer never fires here
    outbox = Outbox(tmp_path / "o.db", HOME, boot_id="b")

    async def body(publisher: Publisher) -> None:
        await until(lambda: publisher.connected, what="the connection")
        outbox.append([Draft(Kind.ALERT, "sos", Severity.CRITICAL, {"driver": "t"}, mono=1.0,
                             wall=datetime.now(UTC), alert={"id": "a1", "state": "raised"})],
                      synced=True)
        publisher.wake()
        await until(lambda: outbox.stats().pending == 0, what="the SOS to be recorded delivered")
        # A burst larger than the window: recorded by the batch size and the burst's end.
        outbox.append([motion(i) for i in range(500)], synced=True)
        publisher.wake()
        await until(lambda: outbox.stats().pending == 0, what="the burst to be recorded delivered")

    await run_publisher(outbox, mosquitto.url, body)
    assert outbox.stats().last_delivered_seq == 501


@pytest.mark.asyncio
async def test_hung_driver_calls_filling_the_default_executor_do_not_stop_the_connect(
        tmp_path: Path, mosquitto):  # type: ignore[no-untyped-def]
    """Drivers run blocking library calls with asyncio.to_thread; some never return."""
    loop = asyncio.get_running_loop()
    release = threading.Event()
    hung = [loop.run_in_executor(None, release.wait) for _ in range(64)]  # > max_workers
    outbox = Outbox(tmp_path / "o.db", HOME, boot_id="b")
    outbox.append([Draft(Kind.ALERT, "sos", Severity.CRITICAL, {"driver": "t"}, mono=1.0,
                         wall=datetime.now(UTC), alert={"id": "a1", "state": "raised"})],
                  synced=True)
    try:
        async def body(publisher: Publisher) -> None:
            await until(lambda: outbox.stats().pending == 0, 15, "the SOS to be delivered")

        await run_publisher(outbox, mosquitto.url, body)
    finally:
        release.set()
        await asyncio.gather(*hung)
    assert outbox.stats().last_delivered_seq == 1
