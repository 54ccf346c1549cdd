"""Parser behaviour beyond the shared vectors: UUID forms, specials, fuzzing."""

from __future__ import annotations

import contextlib
import math

import pytest
from edgeagent_drivers.ble import parsers as p
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.security.fuzz_targets import ble_target


@pytest.mark.parametrize("uuid", ["2a37", "2A37", "0x2A37", "00002a37-0000-1000-8000-00805f9b34fb",
                                  " 00002A37-0000-1000-8000-00805F9B34FB "])
def test_decode_accepts_every_uuid_form(uuid: str) -> None:
    hr = p.decode(uuid, b"\x00\x48")
    assert hr == p.HeartRateMeasurement(72, None, None, ())


@pytest.mark.parametrize("uuid", ["2a00", "hello", "12345678-0000-1000-8000-00805f9b34fb", ""])
def test_unknown_or_malformed_uuid_is_a_lookup_error_not_a_payload_error(uuid: str) -> None:
    with pytest.raises(p.UnknownCharacteristicError):
        p.decode(uuid, b"\x00\x48")


def test_blood_pressure_with_nan_diastolic_keeps_the_rest() -> None:
    # mmHg, systolic 120, diastolic NaN (0x07FF), MAP NRes (0x0800)
    bp = p.parse_blood_pressure(bytes.fromhex("007800ff070008"))
    assert (bp.systolic, bp.diastolic, bp.mean_arterial_pressure) == (120.0, None, None)
    assert bp.absent == (("diastolic", "NaN"), ("mean_arterial_pressure", "NRes"))


def test_kpa_blood_pressure_converts_to_mmhg() -> None:
    bp = p.parse_blood_pressure(bytes.fromhex("15bdf00b009ff03c001200"))
    assert bp.unit == "kPa"
    assert bp.systolic_mmhg == round(18.9 * 7.500615758456563, 1) == 141.8


@pytest.mark.parametrize("special_hex", ["ff07", "0008", "fe07", "0208", "0108"])
def test_spo2_special_value_is_no_reading(special_hex: str) -> None:
    m = p.parse_plx_spot_check(bytes.fromhex("00" + special_hex + "4800"))
    assert m.spo2_pct is None
    assert m.pulse_rate_bpm == 72
    assert m.absent[0][0] == "spo2_pct"


def test_weight_unsuccessful_is_no_reading() -> None:
    assert p.parse_weight(bytes.fromhex("00ffff")).weight is None


def test_weight_with_bmi_and_height() -> None:
    w = p.parse_weight(bytes.fromhex("08a438" + "f500" + "d606"))
    assert (w.weight_kg, w.bmi, w.height, w.height_unit) == (72.5, 24.5, 1.75, "m")


def test_battery_level_range() -> None:
    assert p.decode("2a19", b"\x64") == p.BatteryLevel(100)
    with pytest.raises(p.GattPayloadError, match="outside"):
        p.decode("2a19", b"\x65")
    with pytest.raises(p.GattPayloadError, match="truncated"):
        p.decode("2a19", b"")


def test_impossible_device_date_keeps_measurement_but_no_datetime() -> None:
    # Temperature 36.6 C with timestamp month 13
    t = p.parse_temperature(bytes.fromhex("026e0100ff" + "ea070d01000000"))
    assert t.temperature == 36.6
    assert t.timestamp is not None and t.timestamp.as_datetime() is None


# --- fuzz: arbitrary bytes never raise anything but GattPayloadError ---------------------------


@settings(max_examples=300, deadline=None)
@given(uuid=st.sampled_from(sorted(p.PARSERS)), payload=st.binary(max_size=40))
def test_arbitrary_bytes_only_ever_raise_the_parsers_own_error(uuid: str, payload: bytes) -> None:
    ble_target((uuid, payload))  # the same check bench/fuzz.py runs at length


@settings(max_examples=200, deadline=None)
@given(flags=st.integers(0, 255), body=st.binary(max_size=24))
def test_flag_driven_layouts_fuzzed_per_parser(flags: int, body: bytes) -> None:
    for parser in p.PARSERS.values():
        with contextlib.suppress(p.GattPayloadError):
            parser(bytes([flags]) + body)


@settings(max_examples=200, deadline=None)
@given(raw=st.integers(0, 0xFFFF))
def test_every_sfloat_is_a_finite_number_or_a_special(raw: int) -> None:
    n = p.decode_sfloat(raw)
    assert (n.value is None) == (n.special is not None)
    assert n.value is None or math.isfinite(n.value)


@settings(max_examples=200, deadline=None)
@given(raw=st.integers(0, 0xFFFFFFFF))
def test_every_float_is_a_finite_number_or_a_special(raw: int) -> None:
    n = p.decode_float(raw)
    assert (n.value is None) == (n.special is not None)
    assert n.value is None or math.isfinite(n.value)
