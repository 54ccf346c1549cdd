"""BTHome v2 and ATC/pvvx advertisement parsing: spec-derived frames and arbitrary bytes."""

from __future__ import annotations

import pytest
from edgeagent_drivers.ambient import atc, bthome
from edgeagent_drivers.ambient.formats import (
    AdvertPayloadError,
    EncryptedPayloadError,
    ImplausibleValueError,
    decode,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeagent.errors import PayloadError

# --- BTHome v2 (https://bthome.io/format/) ---


def test_bthome_spec_example_temperature_and_humidity() -> None:
    # The example on bthome.io: 0x40 = v2, unencrypted; 0x02 0x09CA = 25.06 °C; 0x03 0x13BF = 50.55 %
    frame = bthome.parse(bytes.fromhex("4002ca0903bf13"))
    assert frame.fmt == "bthome"
    assert frame.values == {"temperature": 25.06, "humidity": 50.55}
    assert frame.trigger_based is False
    assert frame.unparsed is None


def test_bthome_packet_id_battery_and_negative_temperature() -> None:
    # packet id 5, battery 93 %, temperature -12.34 °C (sint16 -1234 = 0xFB2E), humidity 1-byte 60 %
    frame = bthome.parse(bytes.fromhex("400005015d022efb2e3c"))
    assert frame.packet_id == 5
    assert frame.values["battery"] == 93
    assert frame.values["temperature"] == -12.34
    assert frame.values["humidity"] == 60


def test_bthome_other_object_sizes() -> None:
    # 0x45 sint16 x0.1 = 27.3 °C, 0x0C voltage uint16 x0.001 = 2.95 V, 0x2D window open,
    # 0x04 pressure uint24 x0.01 = 1008.99 hPa (0x018A23 = 100899)
    frame = bthome.parse(bytes.fromhex("40" "451101" "0c860b" "2d01" "04238a01"))
    assert frame.values == {"temperature": 27.3, "voltage": 2.95, "window": True,
                            "pressure": 1008.99}


def test_bthome_second_probe_and_text_and_trigger_flag() -> None:
    frame = bthome.parse(bytes.fromhex("44" "02d007" "02e803" "5303414243" "3a01"))
    assert frame.trigger_based is True
    assert frame.values["temperature"] == 20.0
    assert frame.values["temperature_2"] == 10.0
    assert frame.values["text"] == "ABC"
    assert frame.values["button"] == 1


def test_bthome_encrypted_rejected_with_reason() -> None:
    with pytest.raises(EncryptedPayloadError) as info:
        bthome.parse(bytes.fromhex("41a47266c95f73000000"))
    assert "encrypted" in info.value.reason
    assert isinstance(info.value, PayloadError)


@pytest.mark.parametrize(("hexdata", "words"), [
    ("", "empty"),
    ("2002ca09", "version 1"),
    ("4002ca", "needs 2 bytes"),
    ("4053", "no length byte"),
    ("40530541", "needs 5 bytes"),
    ("40fe01", "unknown object id 0xfe"),
])
def test_bthome_malformed(hexdata: str, words: str) -> None:
    with pytest.raises(AdvertPayloadError) as info:
        bthome.parse(bytes.fromhex(hexdata))
    assert words in info.value.reason


def test_bthome_unknown_object_keeps_what_came_before() -> None:
    frame = bthome.parse(bytes.fromhex("4002ca09fe0102"))
    assert frame.values == {"temperature": 25.06}
    assert frame.unparsed == "unknown object id 0xfe at byte 4"


# --- ATC1441 / pvvx custom on 0x181A ---


def test_atc1441_frame() -> None:
    # MAC A4:C1:38:12:34:56, 21.5 °C (0x00D7 BE), 45 %, 83 %, 2950 mV (0x0B86 BE), counter 7
    frame = atc.parse(bytes.fromhex("a4c138123456" "00d7" "2d" "53" "0b86" "07"))
    assert frame.fmt == "atc1441"
    assert frame.mac == "A4:C1:38:12:34:56"
    assert frame.values == {"temperature": 21.5, "humidity": 45, "battery": 83,
                            "voltage": 2.95}
    assert frame.packet_id == 7


def test_atc1441_negative_temperature() -> None:
    frame = atc.parse(bytes.fromhex("a4c138123456" "ffc9" "50" "64" "0c1c" "ff"))
    assert frame.values["temperature"] == -5.5


def test_pvvx_custom_frame() -> None:
    # MAC reversed, 21.53 °C (0x0869 LE), 45.67 % (0x11D7 LE), 2950 mV, 83 %, counter 7, flags 4
    frame = atc.parse(bytes.fromhex("563412" "38c1a4" "6908" "d711" "860b" "53" "07" "04"))
    assert frame.fmt == "pvvx"
    assert frame.mac == "A4:C1:38:12:34:56"
    assert frame.values == {"temperature": 21.53, "humidity": 45.67, "voltage": 2.95,
                            "battery": 83, "flags": 4}
    assert frame.packet_id == 7


@pytest.mark.parametrize("length", [0, 1, 11, 12, 14, 16, 20])
def test_atc_wrong_length(length: int) -> None:
    with pytest.raises(AdvertPayloadError) as info:
        atc.parse(bytes(length))
    assert f"{length} bytes on 0x181A" in info.value.reason


# --- dispatcher ---


def test_decode_dispatches_by_uuid_and_checks_plausibility() -> None:
    assert decode("FCD2", bytes.fromhex("4002ca09")).values["temperature"] == 25.06
    assert decode("181a", bytes.fromhex("a4c138123456" "00d7" "2d" "53" "0b86" "07")).fmt \
        == "atc1441"
    with pytest.raises(ImplausibleValueError, match="humidity 120"):
        decode("fcd2", bytes.fromhex("402e78"))  # 1-byte humidity 120 %
    with pytest.raises(ImplausibleValueError, match="temperature"):
        decode("181a", bytes.fromhex("a4c138123456" "7fff" "2d" "53" "0b86" "07"))
    with pytest.raises(AdvertPayloadError, match="no decoder"):
        decode("1809", b"\x00")


# --- arbitrary bytes ---


@settings(max_examples=400, deadline=None)
@given(uuid=st.sampled_from(["fcd2", "181a", "feaa"]), payload=st.binary(max_size=40))
def test_arbitrary_bytes_raise_only_payload_errors(uuid: str, payload: bytes) -> None:
    try:
        frame = decode(uuid, payload)
    except PayloadError:
        return
    assert frame.values or frame.fmt == "bthome"


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=40))
def test_arbitrary_bthome_objects_raise_only_payload_errors(body: bytes) -> None:
    # Force a valid v2 unencrypted header so the object walk itself is exercised.
    try:
        frame = bthome.parse(b"\x40" + body)
    except PayloadError:
        return
    for value in frame.values.values():
        assert isinstance(value, int | float | bool | str)
