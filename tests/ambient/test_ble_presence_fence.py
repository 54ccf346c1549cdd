"""`ble.presence` (her tag, with RSSI hysteresis and a miss window) through the fake bleak
backend, and the electronic fence fed by it and a wireless entrance door: a wandering night."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from edgeagent_drivers.ambient.presence_tags import PresenceDriver, PresenceOptions
from edgeagent_drivers.ambient.wireless_sensors import SensorsDriver, SensorsOptions
from edgeagent_drivers.ble.vitals import BleBackend
from edgeagent_mocks.ble import FakeAdapter, FakePeripheral, VirtualTime, encoders
from pydantic import ValidationError

from edgeagent.clock import ManualClock
from edgeagent.driver import Driver, DriverContext, HealthState
from edgeagent.heuristics.fence import Fence, FenceAlert, FenceSettings
from edgeagent.models import Reading
from tests.support.waiting import until_while_running

BAND_UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
DOOR = "3C:2E:F5:00:00:02"
START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)   # 02:00, a night


def ibeacon(uuid: str, major: int, minor: int) -> dict[int, bytes]:
    """Apple manufacturer data of an iBeacon, built from the published layout."""
    raw = bytes([0x02, 0x15]) + bytes.fromhex(uuid.replace("-", "")) \
        + major.to_bytes(2, "big") + minor.to_bytes(2, "big") + bytes([0xC5])
    return {0x004C: raw}


class Band(FakePeripheral):
    """A wristband: an iBeacon in manufacturer data."""

    def __init__(self, address: str, beacon: dict[int, bytes]) -> None:
        super().__init__(address, None, profiles=())
        self.beacon = beacon

    def advertisement(self):  # type: ignore[no-untyped-def]
        adv = super().advertisement()
        return adv._replace(manufacturer_data=dict(self.beacon))


class Home:
    def __init__(self) -> None:
        self.clock = ManualClock(start=START)
        self.vt = VirtualTime(self.clock)
        self.adapter = FakeAdapter(clock=self.clock)
        self.readings: list[Reading] = []
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, driver_cls: type[Driver], options: object) -> Driver:
        ctx = DriverContext(emit=self.readings.append, clock=self.clock,
                            logger=logging.getLogger("test.fence"))
        driver = driver_cls(options, ctx, backend=BleBackend(  # type: ignore[call-arg]
            self.adapter.client_backend, self.adapter.scanner_backend), sleep=self.vt.sleep)
        self.tasks.append(asyncio.create_task(driver.run()))
        return driver

    def presence(self, **options: object) -> PresenceDriver:
        opts = PresenceOptions.model_validate({
            "type": "ble.presence", "name": "tags", "tick_s": 5,
            "tags": [{"id": "anna-wristband", "ibeacon_uuid": BAND_UUID, "major": 1,
                      "minor": 7}], **options})
        driver = self.start(PresenceDriver, opts)
        assert isinstance(driver, PresenceDriver)
        return driver

    async def scanning(self, n: int = 1) -> None:
        await until_while_running(self.tasks[0], lambda: len(self.adapter.scanners) >= n, 3.0)

    def tags(self) -> list[str]:
        return [str(r.value) for r in self.readings if r.sensor == "tag"]

    async def advertise_for(self, band: Band, seconds: int, rssi: int) -> None:
        """One advert a second for `seconds` virtual seconds."""
        band.rssi = rssi
        for _ in range(seconds):
            self.adapter.advertise(band)
            await self.vt.advance(1)


@pytest.fixture
async def home() -> AsyncIterator[Home]:
    h = Home()
    yield h
    for task in h.tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def test_hysteresis_and_miss_window_keep_a_weak_or_lossy_tag_present(home: Home) -> None:
    band = Band("C0:00:00:00:00:01", ibeacon(BAND_UUID, 1, 7))
    other = Band("C0:00:00:00:00:02", ibeacon(BAND_UUID, 1, 8))   # a neighbour's band
    home.adapter.add(band, other)
    home.presence(present_rssi=-85, absent_rssi=-95, miss_window_s=60)
    await home.scanning()
    await home.advertise_for(band, 3, rssi=-92)      # weak, never present: not yet present
    assert home.tags() == []
    await home.advertise_for(band, 3, rssi=-70)
    assert home.tags() == ["present"]
    await home.advertise_for(band, 100, rssi=-92)    # weaker but above absent_rssi: stays
    await home.vt.advance(50)                        # lost adverts shorter than the window
    await home.advertise_for(band, 5, rssi=-80)
    assert home.tags() == ["present"]
    await home.advertise_for(band, 70, rssi=-100)    # below absent_rssi: counts as a miss
    absent = [r for r in home.readings if r.sensor == "tag"][-1]
    assert home.tags() == ["present", "absent"]
    assert absent.device == "anna-wristband" and absent.data["silent_for_s"] >= 60
    home.adapter.advertise(other)                    # minor 8: not hers
    assert home.tags() == ["present", "absent"]
    # The first state after the start is the state found (a baseline); changes are not.
    assert [r.data.get("initial") for r in home.readings if r.sensor == "tag"] == [True, None]


def test_a_tag_needs_exactly_one_way_to_be_found() -> None:
    with pytest.raises(ValidationError, match="exactly one of address, ibeacon_uuid or "
                                              "bthome_address"):
        PresenceOptions.model_validate({"type": "ble.presence", "name": "t",
                                        "tags": [{"id": "band"}]})
    with pytest.raises(ValidationError, match="hysteresis"):
        PresenceOptions.model_validate({"type": "ble.presence", "name": "t",
                                        "present_rssi": -90, "absent_rssi": -80,
                                        "tags": [{"id": "b", "address": DOOR}]})
    with pytest.raises(ValidationError, match="exactly one of"):
        PresenceOptions.model_validate({"type": "ble.presence", "name": "t", "tags": [
            {"id": "b", "address": DOOR, "bthome_address": DOOR}]})
    with pytest.raises(ValidationError, match=r"bthome_address[\s\S]*not a MAC address"):
        PresenceOptions.model_validate({"type": "ble.presence", "name": "t", "tags": [
            {"id": "b", "bthome_address": "3C:2E:F5"}]})


def test_a_keys_file_others_can_read_is_refused_naming_keys_file(tmp_path: Path) -> None:
    path = Path(keys_file(tmp_path, {PENDANT: PENDANT_KEY}))
    os.chmod(path, 0o644)
    with pytest.raises(ValidationError, match="keys_file: secret file is readable") as err:
        PresenceOptions.model_validate({"type": "ble.presence", "name": "t",
                                        "keys_file": str(path), "tags": pendant_tags()})
    assert PENDANT_KEY.hex() not in str(err.value)


def _hhmm(clock: ManualClock, at: float) -> str:
    wall = clock.wall().timestamp() - (clock.monotonic() - at)
    return datetime.fromtimestamp(wall, UTC).strftime("%H:%M")


async def _night(home: Home, *, back_after_s: int | None) -> tuple[list[FenceAlert], Fence]:
    """Band present, entrance opens, band gone; the fence fed by the drivers' readings."""
    band = Band("C0:00:00:00:00:01", ibeacon(BAND_UUID, 1, 7))
    door = FakePeripheral(DOOR, None, profiles=())
    home.adapter.add(band, door)
    home.presence(miss_window_s=60)
    home.start(SensorsDriver, SensorsOptions.model_validate({
        "type": "ble.sensors", "name": "doors", "devices": [
            {"id": "front-door", "address": DOOR, "room": "hall", "role": "entrance"}]}))
    await home.scanning(2)
    fence = Fence(FenceSettings(fence_minutes=5))
    alerts: list[FenceAlert] = []
    fed = 0

    def feed() -> None:
        nonlocal fed
        for reading in home.readings[fed:]:
            alert = fence.observe(reading, reading.mono, lambda t: _hhmm(home.clock, t))
            if alert is not None:
                alerts.append(alert)
        fed = len(home.readings)
        alerts.extend(fence.check(home.clock.monotonic(), lambda _t: True,
                                  lambda t: _hhmm(home.clock, t)))

    band.in_range = False                              # (a new scanner hears all in range)
    await home.vt.advance(12 * 60 + 30)                # 02:12:30
    band.in_range = True
    await home.advertise_for(band, 60, rssi=-70)       # she is home
    feed()
    door.broadcast("fcd2", encoders.bthome((0x00, 1, 1), (0x1A, 1, 1)))  # 02:13:30 door opens
    await home.advertise_for(band, 40, rssi=-80)       # at the door until 02:14:09
    band.in_range = False                              # she walks out
    left = home.clock.monotonic()
    for _ in range(20 * 6):                            # the engine ticks every 10 s
        await home.vt.advance(10)
        feed()
        if back_after_s is not None and home.clock.monotonic() >= left + back_after_s:
            band.in_range = True
            await home.advertise_for(band, 2, rssi=-70)
            back_after_s = None
            feed()
    return alerts, fence


async def test_a_wandering_night_raises_wandering_with_the_times_in_words(home: Home) -> None:
    alerts, fence = await _night(home, back_after_s=None)
    [alert] = alerts
    assert alert.action == "raise" and alert.tag == "anna-wristband"
    assert alert.reason == ("anna-wristband not heard since 02:14, entrance door opened at "
                            "02:13")
    assert fence.away() is True
    # not heard at first (absent, no door: no departure), then home, then gone
    assert home.tags() == ["absent", "present", "absent"]


async def test_back_within_fence_minutes_raises_nothing(home: Home) -> None:
    alerts, fence = await _night(home, back_after_s=3 * 60)
    assert alerts == []
    assert fence.away() is False


def test_fence_rules_without_drivers() -> None:
    fence = Fence(FenceSettings(fence_minutes=5, door_grace_s=120))
    fmt = lambda t: f"t{t:.0f}"  # noqa: E731
    fence.tag_absent("band", at=500.0, silent_for_s=60.0)   # gone at 440, no door: not a fence
    assert fence.away() is False and fence.deadline() is None
    fence.entrance_opened(1000.0)                           # a door long after: still not
    assert fence.away() is False
    fence.tag_present("band", 1100.0, fmt)
    fence.tag_absent("band", at=1190.0, silent_for_s=60.0)  # left after the door opened
    assert fence.away() is True and fence.deadline() == 1130.0 + 300
    assert fence.check(1400.0, lambda _t: True, fmt) == []
    assert fence.check(1430.0, lambda _t: False, fmt) == []  # by day: away, no alert
    assert fence.deadline() is None and fence.away() is True
    assert fence.tag_present("band", 1500.0, fmt) is None    # nothing raised: nothing to resolve
    fence.entrance_opened(2000.0)
    fence.tag_absent("band", at=2070.0, silent_for_s=60.0)
    [raised] = fence.check(2310.0, lambda _t: True, fmt)
    assert raised.reason == "band not heard since t2010, entrance door opened at t2000"
    resolved = fence.tag_present("band", 2400.0, fmt)
    assert resolved is not None and resolved.action == "resolve"
    assert resolved.reason == "band back at t2400"


# --- BTHome tags: plain by address, encrypted by bind key (rotating addresses) ---

PENDANT = "3C:2E:F5:00:00:09"       # her pendant's own address (printed on it, in the keys file)
PENDANT_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
NEIGHBOUR = "3C:2E:F5:00:00:0A"
NEIGHBOUR_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100")


def keys_file(tmp_path: Path, keys: dict[str, bytes]) -> str:
    path = tmp_path / "ble-keys.toml"
    path.write_text("".join(f'[devices."{mac}"]\nkey = "{key.hex()}"\n'
                            for mac, key in keys.items()))
    os.chmod(path, 0o600)
    return str(path)


def pendant_tags() -> list[dict[str, object]]:
    return [{"id": "anna-pendant", "bthome_address": PENDANT.lower().replace(":", "-")}]


class Beacon:
    """A BTHome tag in beacon mode: one frame a second, a new packet id (and counter) each."""

    def __init__(self, home: Home, address: str, key: bytes | None, seal_mac: str | None = None,
                 rssi: int = -70) -> None:
        self.home = home
        self.radio = FakePeripheral(address, None, profiles=(), rssi=rssi)
        self.key = key
        self.seal_mac = seal_mac or address   # the MAC in its nonce: its own address
        self.count = 0
        self.sent: list[bytes] = []
        home.adapter.add(self.radio)

    def frame(self) -> bytes:
        self.count += 1
        plain = encoders.bthome((0x00, 1, self.count % 256), (0x01, 1, 90))
        if self.key is None:
            return plain
        return encoders.bthome_encrypted(plain, self.seal_mac, self.key, self.count)

    async def advertise_for(self, seconds: int) -> None:
        for _ in range(seconds):
            payload = self.frame()
            self.sent.append(payload)
            self.radio.broadcast("fcd2", payload)
            await self.home.vt.advance(1)

    def rotate(self, n: int) -> None:
        """A resolvable private address: a new random address (top bits 01)."""
        self.radio.change_address(f"4A:{n:02X}:17:9C:5E:{n:02X}")


async def test_a_plain_bthome_tag_is_present_then_absent_after_the_miss_window(
        home: Home, tmp_path: Path) -> None:
    driver = home.presence(tags=pendant_tags(), miss_window_s=60,
                           keys_file=keys_file(tmp_path, {}))
    pendant = Beacon(home, PENDANT, key=None)
    other = Beacon(home, NEIGHBOUR, key=None)            # a neighbour's BTHome button
    await home.scanning()
    pendant.radio.rssi = -92                             # weak: not yet present
    await pendant.advertise_for(3)
    assert home.tags() == []
    pendant.radio.rssi = -70
    await pendant.advertise_for(5)
    assert home.tags() == ["present"]
    frames = driver.health.counters["frames"]
    pendant.radio.in_range = False                       # she leaves with it
    await other.advertise_for(70)                        # other BTHome adverts are not hers
    [*_, absent] = [r for r in home.readings if r.sensor == "tag"]
    assert home.tags() == ["present", "absent"]
    assert absent.device == "anna-pendant" and absent.data["silent_for_s"] >= 60
    assert driver.health.counters["frames"] == frames
    assert driver.health.counters["ignored_adverts"] >= 70
    assert driver.health.details["anna-pendant"]["heard_from"] == PENDANT


async def test_an_encrypted_tag_with_a_rotating_address_is_recognised_by_its_key(
        home: Home, tmp_path: Path) -> None:
    driver = home.presence(tags=pendant_tags(), miss_window_s=60, keys_file=keys_file(
        tmp_path, {PENDANT: PENDANT_KEY, NEIGHBOUR: NEIGHBOUR_KEY}))
    pendant = Beacon(home, "4A:00:17:9C:5E:00", key=PENDANT_KEY, seal_mac=PENDANT)
    neighbour = Beacon(home, "52:11:22:33:44:55", key=NEIGHBOUR_KEY, seal_mac=NEIGHBOUR)
    await home.scanning()
    await neighbour.advertise_for(5)                     # decrypts, but not with her key
    assert home.tags() == []
    await pendant.advertise_for(5)
    assert home.tags() == ["present"]
    for n in range(1, 4):                                # a new address every 40 s
        pendant.rotate(n)
        await pendant.advertise_for(40)
    assert home.tags() == ["present"]
    assert driver.health.details["anna-pendant"]["heard_from"] == "4A:03:17:9C:5E:03"
    # A frame sealed with the address it is sent from (the other nonce a device may use).
    pendant.seal_mac = pendant.radio.address
    await pendant.advertise_for(1)
    assert driver.health.counters["frames"] == 5 + 120 + 1
    # She leaves; someone replays her recorded frames from another radio: not her.
    pendant.radio.in_range = False
    replayer = FakePeripheral("66:66:66:66:66:66", None, profiles=())
    home.adapter.add(replayer)
    for old in pendant.sent[-71:-1]:                     # those sealed with her own address
        replayer.broadcast("fcd2", old)
        await home.vt.advance(1)
    assert home.tags() == ["present", "absent"]
    assert driver.health.counters["replayed_counters"] == 70
    # (each address change re-advertised the last frame: a repeat, not heard again)
    assert driver.health.counters["duplicate_frames"] == 3
    assert "replayed or old frame refused" in driver.health.reason


async def test_a_wrong_key_is_not_her_tag(home: Home, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    driver = home.presence(tags=pendant_tags(), miss_window_s=60, keys_file=keys_file(
        tmp_path, {PENDANT: NEIGHBOUR_KEY}))               # the key of another device
    at_her_address = Beacon(home, PENDANT, key=PENDANT_KEY)
    rotating = Beacon(home, "4A:00:17:9C:5E:00", key=PENDANT_KEY, seal_mac=PENDANT)
    plain = Beacon(home, PENDANT, key=None)                # unencrypted, from her address
    await home.scanning()
    await home.vt.advance(0)
    ignored = driver.health.counters.get("ignored_adverts", 0)   # the first, empty adverts
    with caplog.at_level(logging.WARNING, logger="edgeagent_drivers.ambient.presence_tags"):
        await at_her_address.advertise_for(10)
        await rotating.advertise_for(10)
        await plain.advertise_for(10)
        await home.vt.advance(60)
    assert home.tags() == ["absent"]                     # never heard, then the window passed
    counters = driver.health.counters
    assert counters["decrypt_failures"] == 10 and counters["unencrypted_frames"] == 10
    assert counters["ignored_adverts"] - ignored == 10   # rotating address, wrong key: not hers
    assert counters.get("frames", 0) == 0
    assert driver.health.state == HealthState.DEGRADED
    assert "anna-pendant" in driver.health.reason
    decrypt_warnings = [r for r in caplog.records if "do not decrypt" in r.getMessage()]
    assert len(decrypt_warnings) == 1                    # one message, not one per advert
    assert NEIGHBOUR_KEY.hex() not in caplog.text and PENDANT_KEY.hex() not in caplog.text
