"""BLE pendant: press -> PUBACK against the GPIO SOS path, and the CPU cost of 50 devices at 1 Hz.

Part 1 (latency): the real agent in-process (`Agent`, default engine, outbox
with synchronous=FULL, MQTT 5 publisher, a private mosquitto). The pendant
is `ble.button` on the fake bleak backend: bleak's own `BleakScanner` runs,
the fake adapter hands each advertisement to it on the event loop (where
BlueZ's D-Bus signals arrive too). Each press is a fresh encrypted BTHome
frame (sealed before timing: the device does that work). The baseline in
the same run is `gpio.sos` on gpiozero's MockFactory, measured the same
way by bench/latency.py's probe: edge/advert -> PUBACK recorded.

Part 2 (CPU): 50 encrypted pendants in beacon mode, each advertising a
fresh keep-alive frame (new counter, battery unchanged: no reading), fed
as fast as possible through the same scanner path; CPU seconds per advert
times 50 adverts/s is the share of one core. Baseline in the same run: the
same adverts to a scanner whose callback does nothing (the fake backend's
and bleak's own cost), subtracted.

    .venv/bin/python bench/ble_pendant.py [--events 500] [--adverts 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import latency
from _common import Broker, emit, log, summary_ms
from bleak import BleakScanner
from edgeagent_drivers.ambient.pendant import ButtonDriver, ButtonOptions
from edgeagent_drivers.ble.vitals import BleBackend
from edgeagent_mocks.ble import FakeAdapter, FakePeripheral, encoders, reset_default_adapter
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edgeagent.clock import SystemClock
from edgeagent.config import parse_config
from edgeagent.driver import DriverContext
from edgeagent.supervisor import Agent

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


def _mac(i: int) -> str:
    return f"3C:2E:F5:00:{i // 256:02X}:{i % 256:02X}"


def _keys_file(path: Path, macs: list[str]) -> Path:
    path.write_text("".join(f'[devices."{m}"]\nkey = "{KEY.hex()}"\n' for m in macs))
    os.chmod(path, 0o600)
    return path


def press_frames(mac: str, n: int) -> list[bytes]:
    return [encoders.bthome_encrypted(encoders.bthome_button(0x01, packet_id=i % 256,
                                                             battery_pct=90), mac, KEY, i + 1)
            for i in range(n)]


def stimulate_ble(pendant: FakePeripheral, frames: list[bytes], probe: latency.Probe,
                  loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    try:
        for i, frame in enumerate(frames):
            probe.arm()
            loop.call_soon_threadsafe(pendant.broadcast, "fcd2", frame)
            if not probe.done.wait(10):
                probe.error = f"no PUBACK within 10 s for press {i}; stopped there"
                break
            if i >= 20:
                probe.record()
    finally:
        loop.call_soon_threadsafe(stop.set)


async def run_ble_agent(workdir: Path, broker: Broker, n: int) -> latency.Probe:
    adapter = reset_default_adapter()
    mac = _mac(1)
    pendant = FakePeripheral(mac, None, profiles=())
    adapter.add(pendant)
    config = parse_config({
        "home": {"id": "bench-home-ble"},
        "mqtt": {"urls": [broker.url], "backoff_initial": 0.05, "backoff_max": 0.5},
        "outbox": {"path": str(workdir / "outbox-ble.db")},
        "control": {"socket": str(workdir / "control-ble.sock")},
        "drivers": [{"type": "ble.button", "name": "pendants", "backend": "fake",
                     "room": "bedroom", "keys_file": str(_keys_file(workdir / "keys.toml",
                                                                    [mac])),
                     "devices": [{"id": "pendant", "address": mac}]}],
    }, "<bench>")
    agent = Agent(config, sync_probe=lambda: True, tick_interval=1.0)
    probe = latency.Probe(agent, "sos")
    frames = press_frames(mac, n + 20)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await asyncio.wait_for(agent.ready.wait(), 10)
    while not agent.publisher.connected or not adapter.scanners:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    thread = threading.Thread(target=stimulate_ble, args=(pendant, frames, probe,
                                                          asyncio.get_running_loop(), stop))
    thread.start()
    await task
    thread.join()
    return probe


async def cpu_per_advert(adverts: int, workdir: Path, with_driver: bool) -> float:
    """CPU seconds per advertisement through BleakScanner (+ ble.button when `with_driver`)."""
    adapter = FakeAdapter()
    macs = [_mac(i) for i in range(50)]
    peripherals = [FakePeripheral(m, None, profiles=()) for m in macs]
    adapter.add(*peripherals)
    frames = {m: [encoders.bthome_encrypted(encoders.bthome_button(0x00, packet_id=c % 256,
                                                                   battery_pct=90), m, KEY, c)
                  for c in range(1, adverts // 50 + 2)] for m in macs}
    readings: list[Any] = []
    task: asyncio.Task[None] | None = None
    scanner: BleakScanner | None = None
    if with_driver:
        opts = ButtonOptions.model_validate({
            "type": "ble.button", "name": "pendants",
            "keys_file": str(_keys_file(workdir / "keys50.toml", macs)),
            "devices": [{"id": f"p{i}", "address": m} for i, m in enumerate(macs)]})
        ctx = DriverContext(emit=readings.append, clock=SystemClock(),
                            logger=logging.getLogger("bench"))
        driver = ButtonDriver(opts, ctx, backend=BleBackend(adapter.client_backend,
                                                            adapter.scanner_backend))
        task = asyncio.create_task(driver.run())
    else:
        scanner = BleakScanner(lambda _d, _a: None, scanning_mode="passive",
                               bluez={"or_patterns": []}, backend=adapter.scanner_backend)
        await scanner.start()
    while not adapter.scanners:
        await asyncio.sleep(0.01)
    for p, m in zip(peripherals, macs, strict=True):   # first frame of each: sets counters
        p.service_data = {encoders.BTHOME_UUID: frames[m][0]}
        adapter.advertise(p)
    readings.clear()  # the first battery value of each is a reading; the rest are not
    start = time.process_time()
    sent = 0
    for round_ in range(1, adverts // 50 + 1):
        for p, m in zip(peripherals, macs, strict=True):
            p.service_data = {encoders.BTHOME_UUID: frames[m][round_]}
            adapter.advertise(p)
            sent += 1
    spent = time.process_time() - start
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert not readings, "keep-alive frames must not make readings"
    if scanner is not None:
        await scanner.stop()
    return spent / sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--adverts", type=int, default=20_000)
    args = parser.parse_args()
    Device.pin_factory = MockFactory()
    with tempfile.TemporaryDirectory(prefix="bench-ble-pendant-") as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir / "broker").start()
        try:
            log(f"agent: {args.events} BLE pendant presses ...")
            ble = asyncio.run(run_ble_agent(workdir, broker, args.events))
            log(f"agent: {args.events} GPIO SOS presses (baseline) ...")
            gpio = asyncio.run(latency.run_agent(workdir, broker, "sos", args.events))
        finally:
            broker.stop()
        log(f"CPU: {args.adverts} adverts from 50 encrypted pendants ...")
        base = asyncio.run(cpu_per_advert(args.adverts, workdir, with_driver=False))
        full = asyncio.run(cpu_per_advert(args.adverts, workdir, with_driver=True))
    ble_ms = summary_ms([s[2] for s in ble.samples])
    gpio_ms = summary_ms([s[2] for s in gpio.samples])
    driver_share = max(0.0, full - base) * 50  # 50 devices x 1 advert/s, CPU s per s
    emit({
        "bench": "ble_pendant",
        "error": ble.error or gpio.error or None,
        "ble_press_to_puback": ble_ms,
        "gpio_sos_press_to_puback": gpio_ms,
        "ble_adds_p50_ms": round(ble_ms["p50_ms"] - gpio_ms["p50_ms"], 3),
        "ble_adds_p99_ms": round(ble_ms["p99_ms"] - gpio_ms["p99_ms"], 3),
        "ble_stages": {"advert_to_reading": summary_ms([s[0] for s in ble.samples]),
                       "advert_to_committed": summary_ms([s[1] for s in ble.samples])},
        "cpu_us_per_advert_scanner_only": round(base * 1e6, 2),
        "cpu_us_per_advert_with_ble_button": round(full * 1e6, 2),
        "fifty_devices_1hz_core_share_pct": round(driver_share * 100, 3),
        "fifty_devices_1hz_core_share_incl_scanner_pct": round(full * 50 * 100, 3),
        "targets": {"press_to_puback": "BLE adds < 5 ms at p99 over the GPIO SOS path",
                    "cpu": "50 devices at 1 Hz < 5 % of a core"},
    })


if __name__ == "__main__":
    main()
