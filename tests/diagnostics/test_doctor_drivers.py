"""Driver hardware checks, standalone (the hardware itself) and live (the daemon's health)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from edgeagent_drivers.gpio.base import named_pin_factory
from edgeagent_drivers.serial.framing import encode_nmea_bed
from edgeagent_mocks.ble import FakePeripheral, reset_default_adapter
from gpiozero import DigitalInputDevice

from edgeagent.control import ControlClient
from edgeagent.doctor import Status, run_doctor
from edgeagent.doctor.ble_checks import check_adapter, check_ble
from edgeagent.doctor.driver_checks import check_drivers_live, check_drivers_standalone
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config, write_config
from tests.support.waiting import until

from .conftest import quiet_env


def serial_config(tmp_path: Path, port: str):
    return make_config(tmp_path, "mqtt://127.0.0.1:1", [
        {"type": "serial.bedmat", "name": "mat", "port": port}])


class StreamingMat:
    """A mat that reports every 50 ms, as real ones do (opening a port discards old input)."""

    def __init__(self, master: int, payload: bytes) -> None:
        self.master, self.payload = master, payload
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.wait(0.05):
            os.write(self.master, self.payload)

    def __enter__(self) -> StreamingMat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


def test_serial_port_present_and_talking_passes(tmp_path):
    master, slave = os.openpty()
    try:
        with StreamingMat(master, b"\x00\x17garbage" + encode_nmea_bed("IN", 512)):
            result = check_drivers_standalone(serial_config(tmp_path, os.ttyname(slave)))[0]
        assert result.status is Status.PASS, result
        assert "present, opens" in result.reason and "frame arrived (in_bed)" in result.reason
    finally:
        os.close(master)
        os.close(slave)


def test_serial_port_talking_garbage_fails_naming_baud_rate(tmp_path):
    """What a mat sending at 19200 looks like to a port opened at 9600: bytes, no frame."""
    master, slave = os.openpty()
    try:
        with StreamingMat(master, bytes(range(128, 256))):
            result = check_drivers_standalone(serial_config(tmp_path, os.ttyname(slave)),
                                              serial_listen_s=0.5)[0]
        assert result.status is Status.FAIL, result
        assert "no valid nmea-bed frame at 9600 baud" in result.reason
        assert "wrong baud rate" in result.fix
    finally:
        os.close(master)
        os.close(slave)


def test_silent_serial_port_warns(tmp_path):
    master, slave = os.openpty()
    try:
        result = check_drivers_standalone(serial_config(tmp_path, os.ttyname(slave)),
                                          serial_listen_s=0.2)[0]
        assert result.status is Status.WARN and "sent nothing in 0.2 s" in result.reason
    finally:
        os.close(master)
        os.close(slave)


def test_missing_serial_port_fails(tmp_path):
    result = check_drivers_standalone(serial_config(tmp_path, "/dev/ttyUSB-unplugged"))[0]
    assert result.name == "driver[mat]" and result.status is Status.FAIL
    assert "/dev/ttyUSB-unplugged does not exist" in result.reason
    assert "/dev/serial/by-id" in result.fix


def gpio_config(tmp_path: Path):
    return make_config(tmp_path, "mqtt://127.0.0.1:1", [
        {"type": "gpio.pir", "name": "pir-hall", "pin": 17, "pull": "down"}])


def test_gpio_pin_claimable_with_an_available_factory(tmp_path, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    result = check_drivers_standalone(gpio_config(tmp_path))[0]
    assert result.status is Status.PASS, result
    assert "GPIO17 claimable" in result.reason


def test_gpio_without_a_pin_factory_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    result = check_drivers_standalone(gpio_config(tmp_path))[0]
    assert result.status is Status.FAIL
    assert "no GPIO pin factory usable here" in result.reason


def test_gpio_pin_held_by_someone_else_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    holder = DigitalInputDevice(17, pin_factory=named_pin_factory("mock"))
    try:
        result = check_drivers_standalone(gpio_config(tmp_path))[0]
        assert result.status is Status.FAIL
        assert "GPIO17 cannot be claimed" in result.reason
    finally:
        holder.close()


# -- BLE --------------------------------------------------------------------------------


def ble_config(tmp_path: Path, backend: str = "fake"):
    return make_config(tmp_path, "mqtt://127.0.0.1:1", [
        {"type": "ble.vitals", "name": "vitals", "backend": backend, "devices": [
            {"id": "cuff", "address": "AA:BB:CC:00:00:01", "profiles": ["blood_pressure"]},
            {"id": "oximeter", "local_name": "PO3", "profiles": ["pulse_oximeter"]},
        ]}])


def test_bluetooth_adapter_present_in_sysfs_passes(tmp_path):
    sysfs = tmp_path / "sys-bt"
    (sysfs / "hci0").mkdir(parents=True)
    opts = ble_config(tmp_path, "bleak").drivers[0]
    result = check_adapter(opts, quiet_env(sysfs_bluetooth=sysfs, sysfs_rfkill=tmp_path / "x"))
    assert result.status is Status.PASS and "hci0 present" in result.reason


def test_no_bluetooth_adapter_fails_and_skips_the_scan(tmp_path):
    sysfs = tmp_path / "sys-bt"
    sysfs.mkdir()
    results = {r.name: r for r in check_ble(ble_config(tmp_path, "bleak"),
                                            quiet_env(sysfs_bluetooth=sysfs))}
    assert results["ble.adapter[vitals]"].status is Status.FAIL
    assert "no Bluetooth adapter hci0" in results["ble.adapter[vitals]"].reason
    assert results["ble.monitor[cuff]"].status is Status.SKIP


def test_rfkill_blocked_adapter_fails(tmp_path):
    sysfs = tmp_path / "sys-bt"
    (sysfs / "hci0").mkdir(parents=True)
    rfkill = tmp_path / "rfkill" / "rfkill0"
    rfkill.mkdir(parents=True)
    (rfkill / "type").write_text("bluetooth\n")
    (rfkill / "hard").write_text("0\n")
    (rfkill / "soft").write_text("1\n")
    opts = ble_config(tmp_path, "bleak").drivers[0]
    result = check_adapter(opts, quiet_env(sysfs_bluetooth=sysfs, sysfs_rfkill=rfkill.parent))
    assert result.status is Status.FAIL and "rfkill unblock" in result.fix


def test_monitors_heard_by_the_fake_scanner_pass_with_rssi(tmp_path):
    adapter = reset_default_adapter()
    adapter.add(FakePeripheral("AA:BB:CC:00:00:01", "BP7000", profiles=["blood_pressure"],
                               rssi=-71),
                FakePeripheral("AA:BB:CC:00:00:02", "PO3", profiles=["pulse_oximeter"], rssi=-55))
    results = {r.name: r for r in check_ble(ble_config(tmp_path), quiet_env(
        ble_scan_seconds=10))}
    assert results["ble.adapter[vitals]"].status is Status.PASS
    assert results["ble.monitor[cuff]"].status is Status.PASS
    assert results["ble.monitor[cuff]"].details["rssi"] == -71
    assert results["ble.monitor[oximeter]"].details["rssi"] == -55


def test_monitor_absent_from_the_fake_scanner_fails(tmp_path):
    adapter = reset_default_adapter()
    adapter.add(FakePeripheral("AA:BB:CC:00:00:01", "BP7000", profiles=["blood_pressure"]))
    results = {r.name: r for r in check_ble(ble_config(tmp_path), quiet_env(
        ble_scan_seconds=0.3))}
    assert results["ble.monitor[cuff]"].status is Status.PASS
    absent = results["ble.monitor[oximeter]"]
    assert absent.status is Status.FAIL
    assert "PO3 not seen" in absent.reason and "batteries" in absent.fix


def test_powered_off_fake_adapter_fails(tmp_path):
    adapter = reset_default_adapter()
    adapter.powered = False
    result = check_adapter(ble_config(tmp_path).drivers[0], quiet_env())
    assert result.status is Status.FAIL and "powered off" in result.reason


# -- live: the daemon's health over the control socket ----------------------------------


def test_live_health_reports_a_running_driver_as_pass_and_a_broken_one_as_fail():
    config = make_config(Path("/tmp"), "mqtt://127.0.0.1:1", [
        {"type": "mock.stress", "name": "stress"}])
    live = {"drivers": {"stress": {"state": "ok", "reason": "", "restarts": 0}}}
    assert check_drivers_live(config, live)[0].status is Status.PASS
    live = {"drivers": {"stress": {"state": "failed", "reason": "",
                                   "last_error": "hardware unavailable: /dev/ttyUSB0 gone"}}}
    result = check_drivers_live(config, live)[0]
    assert result.status is Status.FAIL and "/dev/ttyUSB0 gone" in result.reason


def test_live_ble_monitor_details_offline_and_low_battery():
    config = make_config(Path("/tmp"), "mqtt://127.0.0.1:1", [
        {"type": "ble.vitals", "name": "vitals", "backend": "fake", "devices": [
            {"id": "cuff", "address": "AA:BB:CC:00:00:01", "profiles": ["blood_pressure"]}]}])
    details = {"cuff": {"rssi": -80, "last_reading_age_s": 30.0, "battery_pct": 10,
                        "low_battery": True, "offline": False}}
    live = {"drivers": {"vitals": {"state": "ok", "details": details}}}
    results = {r.name: r for r in check_drivers_live(config, live)}
    assert results["ble.monitor[cuff]"].status is Status.WARN
    assert "battery 10%" in results["ble.monitor[cuff]"].reason
    details["cuff"]["offline"] = True
    results = {r.name: r for r in check_drivers_live(config, live)}
    assert results["ble.monitor[cuff]"].status is Status.FAIL


@pytest.mark.usefixtures("always_synced")
async def test_doctor_asks_the_running_daemon_instead_of_opening_the_port(tmp_path, mosquitto):
    """A serial port the daemon holds is reported from its health, not opened twice."""
    master, slave = os.openpty()
    port = os.ttyname(slave)
    path = write_config(tmp_path / "c.toml", f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{mosquitto.url}"]
        [outbox]
        path = "{tmp_path}/outbox.db"
        [control]
        socket = "{tmp_path}/control.sock"
        [[drivers]]
        type = "mock.stress"
        name = "stress"
        rate_hz = 5
        [[drivers]]
        type = "serial.bedmat"
        name = "mat"
        port = "{port}"
    """)
    from edgeagent.config import load_config

    agent = Agent(load_config(path), sync_probe=lambda: True, tick_interval=0.05)
    try:
        async with RunningAgent(agent):
            client = ControlClient(tmp_path / "control.sock")
            import asyncio

            # The doctor reports the daemon's link as it is: wait until it is up (a condition,
            # not a sleep), as a technician would run doctor on a running kit.
            await until(lambda: agent.publisher.connected, 10, "the daemon's MQTT link")
            live = await asyncio.to_thread(client.request, {"cmd": "status"})
            env = quiet_env(live=live, socket_path=str(tmp_path / "control.sock"),
                            network=False)
            report = await asyncio.to_thread(run_doctor, str(path), env)
            assert report.mode == "daemon"
            assert report.by_name("agent.daemon").status is Status.PASS
            assert report.by_name("driver[stress]").status is Status.PASS
            mat = report.by_name("driver[mat]")
            assert mat.details["type"] == "serial.bedmat"
            assert "serial port" not in mat.reason  # it came from the daemon, not a probe
            assert report.by_name("mqtt.daemon").status is Status.PASS
    finally:
        os.close(master)
        os.close(slave)
