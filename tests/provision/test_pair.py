"""`edgeagent pair` against the fake bleak backend: the real BleakScanner/BleakClient path.

Each test puts monitors on the process-wide fake adapter (what `backend =
"fake"` resolves to) and runs the command as a technician would.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from edgeagent_mocks.ble import FakeAdapter, FakePeripheral, encoders, reset_default_adapter

from edgeagent.cli.main import main
from edgeagent.config import load_config
from edgeagent.provision import pair as pairing

CUFF = "C0:FF:EE:00:00:01"
OXI = "C0:FF:EE:00:00:02"
HEADPHONES = "C0:FF:EE:00:00:03"

CONFIG = """\
# Kit for home-1 — installed 2026-11-20 by technician Li.
[home]
id = "home-1"   # from the work order
timezone = "Asia/Shanghai"

[outbox]
path = "{outbox}"

# The stress driver stands in for the GPIO sensors here.
[[drivers]]
type = "mock.stress"
name = "stress-1"   # keep this name: the platform dashboards use it
rate_hz = 1
"""


@pytest.fixture
def adapter() -> Iterator[FakeAdapter]:
    yield reset_default_adapter()
    reset_default_adapter()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "edgeagent.toml"
    path.write_text(CONFIG.format(outbox=tmp_path / "outbox.db"))
    path.chmod(0o640)
    return path


def cuff(adapter: FakeAdapter, address: str = CUFF, *, rssi: int = -70,
         measured: bool = True) -> FakePeripheral:
    """A blood-pressure cuff with memory: the reading taken before pairing is sent on subscribe."""
    p = FakePeripheral(address, "BP7000", profiles=["blood_pressure", "battery"], rssi=rssi,
                       battery_pct=76, store_while_disconnected=True)
    adapter.add(p)
    if measured:
        p.notify("2a35", encoders.blood_pressure(128, 82, pulse=71))
    return p


def oximeter(adapter: FakeAdapter) -> FakePeripheral:
    p = FakePeripheral(OXI, "PO-60", profiles=["pulse_oximeter", "battery"], rssi=-48,
                       battery_pct=55, store_while_disconnected=True)
    adapter.add(p)
    p.notify("2a5f", encoders.plx_continuous(97, 66))
    return p


def pair(config: Path, *extra: str) -> int:
    return main(["--lang", "en", "pair", "--backend", "fake", "--config", str(config),
                 "--scan-timeout", "0.05", "--measure-timeout", "5", *extra])


def test_pair_by_address_reads_battery_and_a_measurement_and_writes_a_valid_config(
        adapter: FakeAdapter, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cuff(adapter)
    assert pair(config, "--address", CUFF.lower(), "--yes", "--room", "bedroom") == 0
    out = capsys.readouterr().out
    assert "battery: 76%" in out
    assert "measurement: blood pressure 128/82 mmHg" in out

    text = config.read_text()
    # The technician's comments and the order of the file are untouched.
    assert text.startswith(CONFIG.format(outbox=config.parent / "outbox.db"))
    assert config.stat().st_mode & 0o777 == 0o640
    drivers = tomllib.loads(text)["drivers"]
    assert [d["type"] for d in drivers] == ["mock.stress", "ble.vitals"]
    assert drivers[1]["devices"] == [{"id": "bp-1", "address": CUFF, "room": "bedroom",
                                      "profiles": ["blood_pressure", "battery"]}]
    assert main(["config", "check", str(config)]) == 0
    loaded = load_config(config)
    assert loaded.drivers[1].type == "ble.vitals"


def test_scan_lists_health_monitors_strongest_first_and_the_technician_picks(
        adapter: FakeAdapter, config: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cuff(adapter, rssi=-70)
    oximeter(adapter)
    adapter.add(FakePeripheral(HEADPHONES, "Buds", profiles=["battery"], rssi=-30))
    answers = iter(["9", "2", "y"])  # a wrong number first, then the cuff, then confirm
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert pair(config) == 0
    out = capsys.readouterr().out
    listing = [line for line in out.splitlines() if line.startswith("  [")]
    assert len(listing) == 2  # the headphones advertise no health service
    assert OXI in listing[0] and "RSSI  -48 dBm" in listing[0] and "1822" in listing[0]
    assert "pulse oximeter" in listing[0]
    assert CUFF in listing[1] and "RSSI  -70 dBm" in listing[1] and "1810" in listing[1]
    assert "blood pressure" in listing[1]
    assert "please type a number from the list" in out
    devices = tomllib.loads(config.read_text())["drivers"][1]["devices"]
    assert [d["address"] for d in devices] == [CUFF]


def test_a_second_monitor_joins_the_same_driver_and_a_repeat_is_refused(
        adapter: FakeAdapter, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cuff(adapter)
    oximeter(adapter)
    assert pair(config, "--address", CUFF, "--yes") == 0
    assert pair(config, "--address", OXI, "--yes") == 0
    drivers = tomllib.loads(config.read_text())["drivers"]
    assert len(drivers) == 2
    assert [(d["id"], d["profiles"]) for d in drivers[1]["devices"]] == [
        ("bp-1", ["blood_pressure", "battery"]), ("spo2-1", ["pulse_oximeter", "battery"])]
    before = config.read_text()
    capsys.readouterr()
    assert pair(config, "--address", CUFF, "--yes") == 1
    assert "already in the config as 'bp-1'" in capsys.readouterr().err
    assert config.read_text() == before
    assert main(["config", "check", str(config)]) == 0


def test_no_measurement_means_nothing_is_written(
        adapter: FakeAdapter, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cuff(adapter, measured=False)
    before = config.read_text()
    assert main(["--lang", "en", "pair", "--backend", "fake", "--config", str(config),
                 "--address", CUFF, "--yes", "--measure-timeout", "0.3"]) == 1
    assert "no measurement from" in capsys.readouterr().err
    assert config.read_text() == before


def test_an_unreachable_address_is_reported_not_raised(
        adapter: FakeAdapter, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pair(config, "--address", "00:11:22:33:44:55", "--yes") == 1
    assert "cannot connect to 00:11:22:33:44:55" in capsys.readouterr().err


def test_declining_the_confirmation_writes_nothing(
        adapter: FakeAdapter, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cuff(adapter)
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    before = config.read_text()
    assert pair(config, "--address", CUFF) == 1
    assert config.read_text() == before


def test_add_device_keeps_comments_inside_an_existing_vitals_table() -> None:
    text = ('[[drivers]]\ntype = "ble.vitals"  # monitors\nname = "vitals"\n\n'
            '[[drivers.devices]]\nid = "hr-1"  # chest strap\naddress = "AA:00:00:00:00:01"\n'
            'profiles = ["heart_rate"]\n')
    out = pairing.add_device(text, pairing.device_entry(CUFF, ["blood_pressure"], "bp-1"))
    assert out.startswith(text)
    assert "# chest strap" in out and "# monitors" in out
    assert pairing.paired_addresses(out) == {"AA:00:00:00:00:01": "hr-1", CUFF: "bp-1"}
    assert pairing.next_device_id(out, ["heart_rate", "battery"]) == "hr-2"


def test_pair_talks_to_the_technician_in_chinese(
        adapter: FakeAdapter, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cuff(adapter)
    try:
        assert main(["--lang", "zh_CN", "pair", "--backend", "fake", "--config", str(config),
                     "--address", CUFF, "--yes", "--measure-timeout", "5"]) == 0
    finally:
        from edgeagent.i18n import set_language

        set_language("en")
    out = capsys.readouterr().out
    assert "电量：76%" in out  # noqa: RUF001 - the Chinese colon is the point
    assert "测量结果：血压 128/82 mmHg" in out  # noqa: RUF001
    assert "已将 bp-1 添加到" in out
    assert tomllib.loads(config.read_text())["drivers"][1]["devices"][0]["id"] == "bp-1"
