"""`edgeagent ble decode` and `ble scan`, through the real argument parser."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import edgeagent_drivers.ble as pkg
import pytest
from edgeagent_drivers.ble.vitals import BleBackend
from edgeagent_mocks.ble import FakeAdapter, FakePeripheral, reset_default_adapter

from edgeagent.cli import ble as ble_cli
from edgeagent.cli.main import main
from edgeagent.config import load_config, parse_config


def test_decode_prints_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ble", "decode", "0x2A37", "1e5532002100"]) == 0
    out = capsys.readouterr().out
    assert "Heart Rate Measurement (0x2A37)" in out
    assert "heart_rate_bpm: 85" in out and "energy_expended_kj: 50" in out


def test_decode_json_with_unit_conversion(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ble", "decode", "00002a35-0000-1000-8000-00805f9b34fb",
                 "15 bd f0 0b 00 9f f0 3c 00 12 00", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True and doc["fields"]["unit"] == "kPa"
    assert doc["fields"]["systolic"] == 18.9 and doc["fields"]["systolic_mmhg"] == 141.8


def test_decode_rejects_a_truncated_payload_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ble", "decode", "2a1c", "06b00e00fedc070c050b321b"]) == 1
    out = capsys.readouterr().out
    assert "rejected 2a1c" in out and "truncated" in out and "temperature type" in out


def test_decode_rejection_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ble", "decode", "2a37", "170101", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"characteristic": "2a37", "hex": "170101", "valid": False,
                   "reason": "heart rate measurement: RR-interval flag set but no RR bytes"}


@pytest.mark.parametrize(("uuid", "hexdata"), [("2a00", "00"), ("2a37", "zz")])
def test_decode_bad_arguments_exit_2(uuid: str, hexdata: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ble", "decode", uuid, hexdata]) == 2
    assert "edgeagent:" in capsys.readouterr().err


def test_scan_lists_devices_and_marks_configured_ones(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    adapter = reset_default_adapter()
    adapter.add(FakePeripheral("AA:00:00:00:00:01", "HRM-1", profiles=["heart_rate", "battery"],
                               rssi=-50),
                FakePeripheral("AA:00:00:00:00:02", "Cuff", profiles=["blood_pressure"],
                               rssi=-70))
    config = tmp_path / "edgeagent.toml"
    config.write_text(
        '[[drivers]]\ntype = "ble.vitals"\nname = "vitals"\nbackend = "fake"\n'
        '[[drivers.devices]]\nid = "strap"\naddress = "aa:00:00:00:00:01"\n'
        'profiles = ["heart_rate"]\n'
        '[[drivers.devices]]\nid = "scale"\nlocal_name = "Scale"\nprofiles = ["weight_scale"]\n')
    assert main(["ble", "scan", "--seconds", "0.05", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    strap = next(line for line in lines if line.startswith("AA:00:00:00:00:01"))
    cuff = next(line for line in lines if line.startswith("AA:00:00:00:00:02"))
    assert "Heart Rate, Battery" in strap and strap.rstrip().endswith("strap")
    assert "Blood Pressure" in cuff and not cuff.rstrip().endswith("strap")
    assert lines.index(strap) < lines.index(cuff)  # strongest signal first
    assert "configured but not heard: scale" in lines[-1]


def test_scan_without_bluetooth_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    adapter = FakeAdapter()
    adapter.powered = False
    backend = BleBackend(adapter.client_backend, adapter.scanner_backend)
    assert ble_cli.run_scan(0.05, None, backend=backend) == 2
    assert "no usable Bluetooth" in capsys.readouterr().err


def test_sample_config_and_its_demo_variant_validate() -> None:
    sample = Path(pkg.__file__).parent / "sample.toml"
    (vitals,) = load_config(sample).drivers
    assert [d.id for d in vitals.devices] == ["hr-strap", "bp-cuff", "oximeter", "scale"]
    text = sample.read_text()
    demo_block = text[text.index("# [[drivers]]"):].splitlines()
    demo = tomllib.loads("\n".join(line.removeprefix("#").strip() for line in demo_block))
    (fake,) = parse_config(demo).drivers
    assert fake.backend == "fake" and len(fake.devices) == 3
