"""ble.vitals against the fake bleak backend: the real BleakClient/BleakScanner code path."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest
from ble_harness import Harness
from edgeagent_drivers.ble.vitals import BleVitalsOptions
from edgeagent_mocks.ble import FakePeripheral, encoders
from pydantic import ValidationError

from edgeagent.backoff import Backoff
from edgeagent.driver import HealthState
from edgeagent.errors import HardwareUnavailable

HR = "AA:00:00:00:00:01"


def hr_monitor(ble: Harness, *, store: bool = False, address: str = HR,
               name: str = "HRM-1") -> FakePeripheral:
    p = FakePeripheral(address, name, profiles=["heart_rate", "battery"], clock=ble.clock,
                       store_while_disconnected=store)
    p.every("2a37", 1.0, lambda n: encoders.heart_rate(60 + n))
    ble.adapter.add(p)
    return p


def hr_device(**extra: object) -> dict[str, object]:
    return {"id": "hr", "address": HR, "profiles": ["heart_rate", "battery"], **extra}


async def test_readings_flow_in_si_with_the_unit_the_device_sent(ble: Harness) -> None:
    p = hr_monitor(ble)
    ble.start([hr_device()])
    await ble.until(lambda: "2a37" in p.subscriptions)
    await ble.run_for(3)
    assert ble.values("heart_rate") == [60, 61, 62]
    r = next(r for r in ble.readings if r.sensor == "heart_rate")
    assert (r.device, r.driver, r.data["unit"], r.data["device_unit"]) == ("hr", "vitals", "bpm",
                                                                          "bpm")
    assert ble.values("battery") == [100]


async def test_reconnect_after_disconnect_mid_stream_loses_no_later_reading(ble: Harness) -> None:
    p = hr_monitor(ble, store=True)
    driver = ble.start([hr_device()])
    await ble.until(lambda: "2a37" in p.subscriptions)
    await ble.run_for(3)
    p.disconnect()  # link drops mid-stream; the monitor keeps measuring
    await ble.run_for(4)
    await ble.until(lambda: p.connect_count == 2 and "2a37" in p.subscriptions)
    await ble.run_for(3)
    await ble.until(lambda: len(ble.values("heart_rate")) == 10)
    # Every measurement exactly once, in order: the ones stored during the gap
    # and all those after the re-subscription.
    assert ble.values("heart_rate") == list(range(60, 70))
    assert driver.health.details["hr"]["reconnects"] == 1
    assert driver.health.details["hr"]["connected"] is True


async def test_reconnect_resubscribes_a_streaming_strap(ble: Harness) -> None:
    p = hr_monitor(ble, store=False)  # a chest strap keeps nothing
    ble.start([hr_device()])
    await ble.until(lambda: "2a37" in p.subscriptions)
    await ble.run_for(2)
    p.disconnect()
    assert p.subscriptions == {}
    await ble.run_for(1)
    await ble.until(lambda: "2a37" in p.subscriptions)
    before = len(ble.values("heart_rate"))
    await ble.run_for(5)
    after = ble.values("heart_rate")[before:]
    assert len(after) == 5
    assert after == list(range(after[0], after[0] + 5))


async def test_connect_timeouts_back_off_with_full_jitter_and_rediscover(ble: Harness) -> None:
    p = hr_monitor(ble)
    p.fail_next_connects(6, "timeout")
    ble.start([hr_device()], seed=3, backoff_base_s=2, backoff_max_s=60, backoff_min_s=1)
    for _ in range(400):
        if len(ble.adapter.attempts(HR)) >= 7:
            break
        await ble.vt.advance(1)
    attempts = ble.adapter.attempts(HR)
    assert [o for _, o in attempts] == ["timeout"] * 6 + ["connected"]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(attempts)]
    policy = Backoff(initial=2, maximum=60, floor=1, rng=random.Random(3))
    expected = [policy.delay(n) for n in range(1, 7)]
    assert gaps == pytest.approx(expected)
    for n, gap in enumerate(gaps, start=1):
        assert 1 <= gap <= min(60, 2 * 2 ** (n - 1))  # never a busy loop, never unbounded
    # A stale BlueZ object may be behind a timeout: every retry scanned afresh.
    assert ble.adapter.scans_started == 7
    assert ble.driver is not None and ble.driver.health.counters["connect_timeout"] == 6


async def test_hung_bluetoothd_connect_is_cut_by_the_drivers_own_timeout(ble: Harness) -> None:
    p = hr_monitor(ble)
    p.fail_next_connects(1, "hang")
    ble.start([hr_device()], connect_timeout_s=0.05)
    await ble.until(lambda: ble.driver is not None
                    and ble.driver.health.counters.get("connect_timeout") == 1)
    await ble.vt.advance(5)
    await ble.until(lambda: "2a37" in p.subscriptions)
    assert [o for _, o in ble.adapter.attempts(HR)] == ["hang", "connected"]


async def test_operation_in_progress_and_connection_abort_are_retried(ble: Harness) -> None:
    p = hr_monitor(ble)
    p.fail_next_connects(1, "in_progress")
    p.fail_next_connects(2, "abort")
    ble.start([hr_device()], backoff_min_s=0.5)
    for _ in range(200):
        if p.client is not None:
            break
        await ble.vt.advance(0.5)
    attempts = ble.adapter.attempts(HR)
    assert [o for _, o in attempts] == ["in_progress", "abort", "abort", "connected"]
    # "Software caused connection abort" is transient: quick retries at the floor.
    assert attempts[2][0] - attempts[1][0] == pytest.approx(0.5)
    assert attempts[3][0] - attempts[2][0] == pytest.approx(0.5)
    counters = ble.driver.health.counters if ble.driver else {}
    assert counters["connect_in_progress"] == 1 and counters["connect_abort"] == 2


async def test_malformed_payload_is_counted_and_the_next_good_one_delivered(ble: Harness) -> None:
    p = hr_monitor(ble)
    driver = ble.start([hr_device()])
    await ble.until(lambda: "2a37" in p.subscriptions)
    p.notify("2a37", encoders.heart_rate(70))
    assert p.send_malformed("2a37", bytes.fromhex("170101"))  # RR flag, no RR bytes
    p.notify("2a37", encoders.heart_rate(71))
    assert ble.values("heart_rate") == [70, 71]
    assert driver.health.counters["malformed_payloads"] == 1
    assert ble.task is not None and not ble.task.done()


async def test_silent_monitor_goes_offline_once_then_online(ble: Harness) -> None:
    p = FakePeripheral("AA:00:00:00:00:02", "BP", profiles=["blood_pressure"], clock=ble.clock,
                       store_while_disconnected=True)
    ble.adapter.add(p)
    driver = ble.start([{"id": "cuff", "address": p.address, "profiles": ["blood_pressure"],
                         "expected_interval_s": 60}], watchdog_interval_s=10)
    await ble.until(lambda: "2a35" in p.subscriptions)
    p.notify("2a35", encoders.blood_pressure(128, 82, pulse=70))
    await ble.run_for(300, step=5)
    status = [(r.value, r.data) for r in ble.readings if r.sensor == "device_status"]
    assert [v for v, _ in status] == ["offline"]
    assert status[0][1]["expected_interval_s"] == 60
    assert "nothing heard" in status[0][1]["reason"]
    assert driver.health.state == HealthState.DEGRADED
    p.notify("2a35", encoders.blood_pressure(131, 84, pulse=72))  # sent now or on reconnect
    for _ in range(300):
        if len(ble.values("blood_pressure")) == 2:
            break
        await ble.vt.advance(1)
    status = [r.value for r in ble.readings if r.sensor == "device_status"]
    assert status == ["offline", "online"]
    assert ble.values("blood_pressure") == [128.0, 131.0]
    assert driver.health.state == HealthState.OK


@pytest.mark.parametrize(("slots", "peak"), [(1, 1), (2, 2)])
async def test_two_cuffs_share_the_adapters_connection_slots(ble: Harness, slots: int,
                                                             peak: int) -> None:
    cuffs = []
    for i in (1, 2):
        cuff = FakePeripheral(f"AA:00:00:00:01:0{i}", f"BP{i}",
                              profiles=["blood_pressure", "battery"], clock=ble.clock,
                              store_while_disconnected=True, battery_pct=80 + i)
        cuff.every("2a35", 60, lambda n, i=i: encoders.blood_pressure(120 + 10 * i + n, 80),
                   times=3)
        ble.adapter.add(cuff)
        cuffs.append(cuff)
    ble.start([{"id": f"cuff{i}", "address": c.address, "profiles": ["blood_pressure",
                                                                        "battery"],
                "mode": "poll", "poll_interval_s": 30, "poll_listen_s": 10}
               for i, c in enumerate(cuffs, start=1)],
              max_concurrent_connections=slots)
    await ble.run_for(300, step=1)
    assert ble.adapter.max_connected == peak
    assert ble.values("blood_pressure", "cuff1") == [130.0, 131.0, 132.0]
    assert ble.values("blood_pressure", "cuff2") == [140.0, 141.0, 142.0]
    assert set(ble.values("battery", "cuff1")) == {81}
    assert all(c.connect_count >= 3 for c in cuffs)


async def test_monitor_that_changes_address_is_found_again_by_name(ble: Harness) -> None:
    p = hr_monitor(ble)
    driver = ble.start([hr_device(local_name="HRM-1")])
    await ble.until(lambda: "2a37" in p.subscriptions)
    p.change_address("AA:00:00:00:00:99")
    p.disconnect()
    for _ in range(60):
        if p.client is not None and "2a37" in p.subscriptions:
            break
        await ble.vt.advance(1)
    await ble.run_for(2)
    assert driver.health.details["hr"]["address"] == "AA:00:00:00:00:99"
    assert driver.health.counters["address_changes"] == 1
    assert ble.values("heart_rate")[-2:] == [p.sent[-2][1][1], p.sent[-1][1][1]]


async def test_battery_running_down_is_flagged_low(ble: Harness) -> None:
    p = hr_monitor(ble)
    driver = ble.start([hr_device(low_battery_pct=15)])
    await ble.until(lambda: "2a19" in p.subscriptions)
    p.run_battery_down(12)
    low = [r.data["low"] for r in ble.readings if r.sensor == "battery"]
    assert low == [False, True]
    assert driver.health.details["hr"]["low_battery"] is True
    assert driver.health.details["hr"]["battery_pct"] == 12


async def test_kpa_cuff_with_its_own_clock(ble: Harness) -> None:
    p = FakePeripheral("AA:00:00:00:00:03", "BP", profiles=["blood_pressure"], clock=ble.clock)
    ble.adapter.add(p)
    ble.start([{"id": "cuff", "address": p.address, "profiles": ["blood_pressure"]}])
    await ble.until(lambda: "2a35" in p.subscriptions)
    device_time = datetime(2025, 12, 31, 23, 58, 0)  # agent clock: 2026-01-01 00:00:00 UTC
    p.notify("2a35", encoders.blood_pressure(16.0, 10.7, unit="kPa", when=device_time))
    (r,) = [r for r in ble.readings if r.sensor == "blood_pressure"]
    assert r.value == 120.0 and r.data["unit"] == "mmHg"
    assert r.data["device_unit"] == "kPa" and r.data["device_value"]["systolic"] == 16.0
    assert r.data["device_timestamp"] == "2025-12-31T23:58:00"
    assert r.data["device_clock_offset_s"] == -120.0
    assert r.wall == datetime(2026, 1, 1, tzinfo=UTC)  # ts stays the agent's clock


async def test_advertising_thermometer_read_by_passive_scan(ble: Harness) -> None:
    p = FakePeripheral("AA:00:00:00:00:04", "THERMO", profiles=["thermometer"], clock=ble.clock)
    ble.adapter.add(p)
    driver = ble.start([{"id": "thermo", "local_name": "THERMO", "mode": "advert",
                         "profiles": ["thermometer"], "expected_interval_s": 600}])
    await ble.until(lambda: len(ble.adapter.scanners) == 1)
    scanner = ble.adapter.scanners[0]
    assert scanner.scanning_mode == "passive"
    p.broadcast("1809", encoders.temperature(36.6))
    p.broadcast("1809", encoders.temperature(36.6))  # the same advert, repeated
    p.broadcast("2a1c", encoders.temperature(98.6, unit="F"))
    assert ble.values("temperature") == [36.6, 37.0]
    assert ble.adapter.connect_log == []  # never connected
    assert driver.health.details["thermo"]["rssi"] == -60


async def test_silent_scanner_is_restarted(ble: Harness) -> None:
    ble.start([{"id": "thermo", "local_name": "T", "mode": "advert",
                "profiles": ["thermometer"]}], scanner_restart_s=90, watchdog_interval_s=30)
    await ble.until(lambda: ble.adapter.scans_started == 1)
    await ble.run_for(200, step=10)
    assert ble.adapter.scans_started >= 2
    assert ble.driver is not None and ble.driver.health.counters["scanner_restarts"] >= 1


async def test_no_bluetooth_adapter_is_hardware_unavailable(ble: Harness) -> None:
    ble.adapter.powered = False
    ble.start([hr_device()])
    assert ble.task is not None
    with pytest.raises(HardwareUnavailable):
        await ble.task
    assert ble.driver is not None and ble.driver.health.state == HealthState.FAILED


def test_options_reject_a_device_that_cannot_be_found() -> None:
    with pytest.raises(ValidationError, match="needs address, local_name or service"):
        BleVitalsOptions.model_validate({"type": "ble.vitals", "name": "v", "devices": [
            {"id": "x", "profiles": ["heart_rate"]}]})
    with pytest.raises(ValidationError, match="unknown BLE backend"):
        BleVitalsOptions.model_validate({"type": "ble.vitals", "name": "v", "backend": "nope",
                                         "devices": [{"id": "x", "address": HR,
                                                      "profiles": ["heart_rate"]}]})


async def test_connected_but_silent_link_is_dropped_and_remade(ble: Harness) -> None:
    p = hr_monitor(ble)
    driver = ble.start([hr_device(expected_interval_s=120)], watchdog_interval_s=30)
    await ble.until(lambda: "2a37" in p.subscriptions)
    p.in_range = False  # BlueZ still says connected, nothing arrives, no disconnect event
    await ble.vt.advance(200)
    assert driver.health.counters["stale_connections"] == 1
    assert [r.value for r in ble.readings if r.sensor == "device_status"] == ["offline"]
    p.in_range = True
    for _ in range(400):
        if p.connect_count == 2 and "2a37" in p.subscriptions:
            break
        await ble.vt.advance(1)
    await ble.run_for(2)
    assert [r.value for r in ble.readings if r.sensor == "device_status"] == ["offline",
                                                                              "online"]


async def test_a_refused_characteristic_does_not_cost_the_others(ble: Harness) -> None:
    p = hr_monitor(ble)
    p.refuse("2a19")  # battery wants an encrypted link
    driver = ble.start([hr_device()])
    await ble.until(lambda: "2a37" in p.subscriptions)
    await ble.run_for(2)
    assert ble.values("heart_rate") == [60, 61]
    assert driver.health.counters["gatt_errors"] == 1
    assert p.connect_count == 1
